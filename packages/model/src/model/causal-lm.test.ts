import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import type { ModelConfigInput } from '../config/model-config.js';
import { referenceLogits, relativeError } from '../testing/reference-llama.js';
import { TEST_BACKENDS, useBackend, weightsAsFloat64 } from '../testing/test-backends.js';
import { createModel } from './create-model.js';

const base = {
  vocabSize: 61,
  hiddenSize: 32,
  intermediateSize: 48,
  numHiddenLayers: 2,
  initializerRange: 0.2,
};
const cases: [string, ModelConfigInput][] = [
  ['llama MHA untied', { ...base, modelType: 'llama', numAttentionHeads: 4 }],
  [
    'llama GQA tied with attention and mlp bias',
    {
      ...base,
      modelType: 'llama',
      numAttentionHeads: 4,
      numKeyValueHeads: 2,
      tieWordEmbeddings: true,
      attentionBias: true,
      mlpBias: true,
    },
  ],
  [
    'llama head_dim ≠ hidden/heads, rope_theta',
    {
      ...base,
      modelType: 'llama',
      numAttentionHeads: 2,
      numKeyValueHeads: 1,
      headDim: 12,
      ropeTheta: 500000,
    },
  ],
  [
    'mistral GQA sliding window 3',
    { ...base, modelType: 'mistral', numAttentionHeads: 4, numKeyValueHeads: 1, slidingWindow: 3 },
  ],
  [
    'mistral no window',
    { ...base, modelType: 'mistral', numAttentionHeads: 4, numKeyValueHeads: 2, slidingWindow: null },
  ],
  [
    'qwen2 GQA qkv bias tied',
    { ...base, modelType: 'qwen2', numAttentionHeads: 4, numKeyValueHeads: 2, tieWordEmbeddings: true },
  ],
  ['qwen2 untied', { ...base, modelType: 'qwen2', numAttentionHeads: 8, numKeyValueHeads: 4 }],
];

const ids = [
  [5, 17, 33, 2, 60, 8, 41, 9],
  [1, 2, 3, 4, 5, 6, 7, 8],
];
const rightPadded = {
  ids: [ids[0]!, [1, 2, 3, 4, 5, 0, 0, 0]],
  mask: [
    [1, 1, 1, 1, 1, 1, 1, 1],
    [1, 1, 1, 1, 1, 0, 0, 0],
  ],
};
const leftPadded = {
  ids: [[0, 0, 0, 9, 10, 11, 12, 13], ids[0]!],
  mask: [
    [0, 0, 0, 1, 1, 1, 1, 1],
    [1, 1, 1, 1, 1, 1, 1, 1],
  ],
};

/** Biases are zero at init: give them values so that they matter. */
function randomizeBiases(model: ReturnType<typeof createModel>): void {
  let seed = 1;
  for (const [name, variable] of model.weights) {
    if (!name.endsWith('.bias') && !name.endsWith('norm.weight')) continue;
    variable.assign(
      tf.tidy(() => tf.add(variable, tf.randomNormal(variable.shape, 0, 0.3, 'float32', seed++))),
    );
  }
}

describe.each(TEST_BACKENDS)('forward parity with a float64 reference (%s)', (backend) => {
  it.each(cases)('%s', async (_, input) => {
    await useBackend(backend);
    const model = createModel(input, { seed: 7 });
    randomizeBiases(model);
    const weights = await weightsAsFloat64(model.weights);
    try {
      for (const batch of [{ ids, mask: undefined }, rightPadded, leftPadded]) {
        const actual = await model.logits(batch.ids, batch.mask, { output: 'array' });
        const expected = referenceLogits(model.config, weights, batch.ids, batch.mask);
        expect(actual.length).toBe(2);
        expect(actual[0]!.length).toBe(8);
        expect(actual[0]![0]!.length).toBe(61);
        expect(relativeError(actual, expected, batch.mask)).toBeLessThan(1e-4);
        expect(actual.flat(2).every(Number.isFinite)).toBe(true);
      }
    } finally {
      model.dispose();
    }
  });

  it('padding does not change the logits of real tokens', async () => {
    await useBackend(backend);
    const model = createModel(
      { ...base, modelType: 'qwen2', numAttentionHeads: 4, numKeyValueHeads: 2 },
      { seed: 3 },
    );
    try {
      const alone = await model.logits([[9, 10, 11, 12, 13]], undefined, { output: 'array' });
      const left = await model.logits(leftPadded.ids, leftPadded.mask, { output: 'array' });
      expect(relativeError([left[0]!.slice(3)], alone)).toBeLessThan(1e-5);
    } finally {
      model.dispose();
    }
  });

  it("createModel accepts another model's (edited) config", async () => {
    await useBackend(backend);
    const first = createModel({ ...base, modelType: 'qwen2', numAttentionHeads: 4, numKeyValueHeads: 2 });
    const second = createModel({ ...first.config, numHiddenLayers: 1 }, { seed: 2 });
    try {
      expect(second.config.numHiddenLayers).toBe(1);
      expect(second.config.qkvBias).toBe(true);
      expect(second.weights.has('model.layers.1.mlp.up_proj.weight')).toBe(false);
    } finally {
      first.dispose();
      second.dispose();
    }
  });

  it('logits resolve to a tensor the caller owns', async () => {
    await useBackend(backend);
    const model = createModel({ ...base, modelType: 'llama', numAttentionHeads: 4 });
    try {
      const before = tf.memory().numTensors;
      const logits = await model.logits(ids);
      expect(logits.shape).toEqual([2, 8, 61]);
      expect(tf.memory().numTensors).toBe(before + 1);
      logits.dispose();
    } finally {
      model.dispose();
    }
  });
});
