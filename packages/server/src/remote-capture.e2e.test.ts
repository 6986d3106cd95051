// End to end: the remote provider of @fusechat/distribution-capture (vLLM dialect) against
// `fusechat serve` on 127.0.0.1 gives the same store as local capture of the same model.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CaptureRecord } from '@fusechat/core';
import { captureLocalModel, captureRemoteModel } from '@fusechat/distribution-capture';
import { openStore } from '@fusechat/distribution-store';
import { type CausalLM, createModel, loadModel, saveModel } from '@fusechat/model';
import { loadTokenizer } from '@fusechat/tokenizer-alignment';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer } from './create-server.js';
import {
  listenOnLoopback,
  MISTRAL_TOKENIZER_DIR,
  TEST_CHAT_TEMPLATE,
  TINY_LLAMA_32K,
  useCpu,
} from './testing/fixtures.js';

const K = 10;

/** Half the spacing of float16 numbers around `value`: the most that storing it as fp16 moves it. */
function halfUlpFp16(value: number): number {
  const magnitude = Math.abs(value);
  if (magnitude < 2 ** -14) return 2 ** -25;
  return 2 ** (Math.floor(Math.log2(magnitude)) - 11);
}

function softmax(values: ArrayLike<number>): number[] {
  const list = Array.from(values);
  const max = Math.max(...list);
  const weights = list.map((value) => Math.exp(value - max));
  const total = weights.reduce((a, b) => a + b, 0);
  return weights.map((weight) => weight / total);
}

async function readStore(dir: string): Promise<CaptureRecord[]> {
  const store = await openStore(dir);
  try {
    const records: CaptureRecord[] = [];
    for await (const record of store) records.push(record);
    return records;
  } finally {
    await store.close();
  }
}

describe('remote capture through fusechat serve', () => {
  let root: string;
  let modelDir: string;
  let data: string;
  let template: string;
  let model: CausalLM;
  let app: FastifyInstance;
  let url: string;

  beforeAll(async () => {
    await useCpu();
    root = mkdtempSync(join(tmpdir(), 'fusechat-serve-e2e-'));
    modelDir = join(root, 'tiny');
    const created = createModel(TINY_LLAMA_32K, { seed: 11 });
    try {
      await saveModel(created, modelDir, { tokenizerDirectory: MISTRAL_TOKENIZER_DIR });
    } finally {
      created.dispose();
    }
    template = join(root, 'chat.jinja');
    writeFileSync(template, TEST_CHAT_TEMPLATE);
    data = join(root, 'train.jsonl');
    const questions = [
      'Who is Ishmael?',
      'What is a whale?',
      'Why go to sea?',
      'Where is Nantucket?',
      'Name a harpooner.',
    ];
    const answers = [
      'The narrator of Moby-Dick.',
      'A large marine mammal.',
      'To drive off the spleen.',
      'An island off Cape Cod.',
      'Queequeg, of Kokovoko.',
    ];
    writeFileSync(
      data,
      `${questions
        .map((question, i) =>
          JSON.stringify({
            id: `q${i}`,
            messages: [
              { role: 'user', content: question },
              { role: 'assistant', content: answers[i] },
            ],
          }),
        )
        .join('\n')}\n`,
    );
    model = await loadModel(modelDir);
    app = createServer({
      model,
      tokenizer: await loadTokenizer(modelDir),
      modelName: 'tiny',
      chatTemplate: TEST_CHAT_TEMPLATE,
    });
    url = await listenOnLoopback(app);
  });

  afterAll(async () => {
    await app?.close();
    model?.dispose();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('gives the same ids, tokens, masks and top-k, and softmax over the kept entries equal within fp16 rounding', async () => {
    await captureLocalModel({
      modelDir,
      data,
      out: join(root, 'local'),
      k: K,
      chatTemplateFile: template,
      model,
    });
    await captureRemoteModel({
      endpoint: url,
      modelName: 'tiny',
      tokenizerDir: modelDir,
      dialect: 'vllm',
      data,
      out: join(root, 'remote'),
      k: K,
      chatTemplateFile: template,
      retryBaseDelayMs: 1,
    });
    const local = await readStore(join(root, 'local'));
    const remote = await readStore(join(root, 'remote'));
    expect(local.map((record) => record.id)).toEqual(['q0', 'q1', 'q2', 'q3', 'q4']);
    expect(remote.map((record) => record.id)).toEqual(local.map((record) => record.id));
    let positions = 0;
    let ties = 0;
    for (const [index, localRecord] of local.entries()) {
      const remoteRecord = remote[index]!;
      expect(Array.from(remoteRecord.inputIds)).toEqual(Array.from(localRecord.inputIds));
      expect(Array.from(remoteRecord.labelMask)).toEqual(Array.from(localRecord.labelMask));
      expect(remoteRecord.topK.k).toBe(K);
      expect(Math.abs(remoteRecord.ce - localRecord.ce)).toBeLessThan(1e-3);
      for (let t = 0; t < localRecord.topK.length; t++) {
        positions++;
        const row = (values: Float32Array | Int32Array) => Array.from(values.subarray(t * K, (t + 1) * K));
        const localIds = row(localRecord.topK.ids);
        const remoteIds = row(remoteRecord.topK.ids);
        const localValues = row(localRecord.topK.logits);
        const remoteValues = row(remoteRecord.topK.logits);
        // Ids agree slot by slot, except where two entries tie (equal values after fp16 rounding).
        for (let j = 0; j < K; j++) {
          if (localIds[j] !== remoteIds[j]) {
            ties++;
            expect(remoteIds).toContain(localIds[j]);
          }
        }
        const bound =
          2 * Math.max(...localValues.map(halfUlpFp16)) +
          2 * Math.max(...remoteValues.map(halfUlpFp16)) +
          1e-6;
        const localProbabilities = softmax(localValues);
        const remoteProbabilities = softmax(remoteValues);
        for (let j = 0; j < K; j++) {
          const remoteSlot = remoteIds.indexOf(localIds[j]!);
          expect(Math.abs(localProbabilities[j]! - remoteProbabilities[remoteSlot]!)).toBeLessThanOrEqual(
            bound * localProbabilities[j]! + 1e-7,
          );
        }
      }
    }
    expect(positions).toBeGreaterThan(50);
    expect(ties).toBeLessThan(positions / 10);
  }, 120_000);
});
