import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createCaptureIdentity, createLocalCaptureIdentity } from './capture-identity.js';
import { fakeTokenizer } from './testing/fixtures.js';

const root = mkdtempSync(join(tmpdir(), 'fusechat-capture-identity-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const sha256 = (bytes: string) => createHash('sha256').update(bytes).digest('hex');

describe('createLocalCaptureIdentity', () => {
  it('hashes config.json, the data file and the template; the id space covers a padded vocabulary', async () => {
    const modelDir = join(root, 'Qwen-tiny');
    const config = '{"model_type":"qwen2","vocab_size":80}\n';
    const data = '{"text":"hello"}\n';
    writeFileSync(join(root, 'data.jsonl'), data);
    mkdirSync(modelDir);
    writeFileSync(join(modelDir, 'config.json'), config);
    const identity = await createLocalCaptureIdentity({
      modelDir,
      tokenizer: fakeTokenizer(70),
      dataFile: join(root, 'data.jsonl'),
      chatTemplate: '{{ messages }}',
      capture: { k: 10, maxLength: 2048, truncation: 'keep-first', limit: undefined },
    });
    expect(identity).toEqual({
      model: { name: 'Qwen-tiny', configHash: sha256(config) },
      tokenizer: { hash: 'fake-70', vocabSize: 80 },
      data: { hash: sha256(data) },
      chatTemplateHash: sha256('{{ messages }}'),
      capture: { k: 10, maxLength: 2048, truncation: 'keep-first', valueKind: 'logits' },
    });
  });

  it('names a directory without config.json', async () => {
    await expect(
      createLocalCaptureIdentity({
        modelDir: join(root, 'missing'),
        tokenizer: fakeTokenizer(70),
        dataFile: join(root, 'data.jsonl'),
        chatTemplate: null,
        capture: { k: 10 },
      }),
    ).rejects.toMatchObject({ code: 'CAPTURE_MODEL_CONFIG_NOT_FOUND' });
  });
});

describe('createCaptureIdentity', () => {
  it('defaults maxLength/truncation to null and valueKind to logits, keeps a remote provider kind', () => {
    const identity = createCaptureIdentity({
      model: { name: 'served', configHash: 'http://127.0.0.1:8000 qwen' },
      tokenizer: fakeTokenizer(70),
      dataHash: 'abc',
      chatTemplate: null,
      capture: { k: 5, valueKind: 'logprobs' },
    });
    expect(identity.chatTemplateHash).toBeNull();
    expect(identity.tokenizer.vocabSize).toBe(70);
    expect(identity.capture).toEqual({ k: 5, maxLength: null, truncation: null, valueKind: 'logprobs' });
  });
});
