import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModelConfigInput } from '../config/model-config.js';
import { createModel } from '../model/create-model.js';
import { relativeError } from '../testing/reference-llama.js';
import { useBackend } from '../testing/test-backends.js';
import { loadModel } from './load-model.js';
import { saveModel } from './save-model.js';

const script = join(dirname(fileURLToPath(import.meta.url)), '../testing/numpy_llama.py');
const numpyAvailable = spawnSync('python3', ['-c', 'import numpy'], { encoding: 'utf8' }).status === 0;

function numpyLogits(dir: string, ids: number[][]): number[][][] {
  const result = spawnSync('python3', [script, dir], {
    input: JSON.stringify({ ids }),
    encoding: 'utf8',
    maxBuffer: 1 << 28,
  });
  if (result.status !== 0) throw new Error(result.stderr);
  return JSON.parse(result.stdout).logits;
}

let root: string;
beforeAll(async () => {
  await useBackend('cpu');
  root = await mkdtemp(join(tmpdir(), 'fusechat-numpy-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const base = {
  vocabSize: 70,
  hiddenSize: 32,
  intermediateSize: 56,
  numHiddenLayers: 2,
  numAttentionHeads: 4,
  initializerRange: 0.2,
};
const cases: [string, ModelConfigInput, 'F32' | 'BF16'][] = [
  ['llama GQA, F32, sharded', { ...base, modelType: 'llama', numKeyValueHeads: 2 }, 'F32'],
  ['qwen2 tied, BF16', { ...base, modelType: 'qwen2', numKeyValueHeads: 2, tieWordEmbeddings: true }, 'BF16'],
  [
    'mistral sliding window, F32',
    { ...base, modelType: 'mistral', numKeyValueHeads: 1, slidingWindow: 3 },
    'F32',
  ],
];

describe.skipIf(!numpyAvailable)(
  'an independent numpy reader and forward pass agree with saved checkpoints',
  () => {
    it.each(cases)('%s', async (_, input, dtype) => {
      const dir = join(root, `${input.modelType}-${dtype}`);
      const model = createModel(input, { seed: 21 });
      await saveModel(model, dir, {
        dtype,
        maxShardBytes: dtype === 'F32' && input.modelType === 'llama' ? 20000 : undefined,
      });
      model.dispose();
      const loaded = await loadModel(dir);
      try {
        const ids = [
          [1, 5, 9, 33, 2, 69, 14],
          [7, 7, 7, 0, 1, 2, 3],
        ];
        const ours = await loaded.logits(ids, undefined, { output: 'array' });
        expect(relativeError(ours, numpyLogits(dir, ids))).toBeLessThan(1e-4);
      } finally {
        loaded.dispose();
      }
    });
  },
);
