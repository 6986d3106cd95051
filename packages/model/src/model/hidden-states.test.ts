import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import type { ModelConfigInput } from '../config/model-config.js';
import { applyLora } from '../lora/apply-lora.js';
import { referenceLogits, relativeError } from '../testing/reference-llama.js';
import { TEST_BACKENDS, useBackend, weightsAsFloat64 } from '../testing/test-backends.js';
import { createModel } from './create-model.js';

const base = {
  vocabSize: 53,
  hiddenSize: 32,
  intermediateSize: 48,
  numHiddenLayers: 2,
  initializerRange: 0.2,
};
const cases: [string, ModelConfigInput][] = [
  ['llama untied', { ...base, modelType: 'llama', numAttentionHeads: 4 }],
  [
    'qwen2 tied',
    { ...base, modelType: 'qwen2', numAttentionHeads: 4, numKeyValueHeads: 2, tieWordEmbeddings: true },
  ],
];
const ids = [
  [5, 17, 33, 2, 50, 8],
  [1, 2, 3, 4, 0, 0],
];
const mask = [
  [1, 1, 1, 1, 1, 1],
  [1, 1, 1, 1, 0, 0],
];

/** hiddenStates → outputProjection over rows picked in a shuffled order, as nested logits. */
function twoStepLogits(model: ReturnType<typeof createModel>, rowsPerChunk: number): number[][][] {
  const head = model.outputProjection();
  try {
    return tf.tidy(() => {
      const hidden = model.hiddenStates(ids, { attentionMask: mask });
      const [batch, time, width] = hidden.shape;
      const flat = tf.reshape(hidden, [batch * time, width]) as tf.Tensor2D;
      const chunks: tf.Tensor2D[] = [];
      for (let row = 0; row < batch * time; row += rowsPerChunk) {
        const size = Math.min(rowsPerChunk, batch * time - row);
        chunks.push(head.apply(tf.slice(flat, [row, 0], [size, width])));
      }
      const logits = tf.reshape(tf.concat(chunks, 0), [batch, time, head.outFeatures]);
      return logits.arraySync() as number[][][];
    });
  } finally {
    head.dispose();
  }
}

describe.each(TEST_BACKENDS)('hiddenStates + outputProjection (%s)', (backend) => {
  it.each(cases)('equal forward, chunk by chunk, and the float64 reference (%s)', async (_, input) => {
    await useBackend(backend);
    const model = createModel(input, { seed: 5 });
    try {
      const expected = referenceLogits(model.config, await weightsAsFloat64(model.weights), ids, mask);
      const forward = await model.logits(ids, mask, { output: 'array' });
      for (const rowsPerChunk of [1, 5, 12]) {
        const actual = twoStepLogits(model, rowsPerChunk);
        expect(relativeError(actual, forward, mask)).toBeLessThan(1e-6);
        expect(relativeError(actual, expected, mask)).toBeLessThan(1e-4);
      }
    } finally {
      model.dispose();
    }
  });

  it('includes a LoRA adapter on lm_head and frees what it creates', async () => {
    await useBackend(backend);
    const model = createModel({ ...base, modelType: 'llama', numAttentionHeads: 4 }, { seed: 2 });
    try {
      const [adapter] = applyLora(model, { rank: 2, alpha: 4, targetModules: ['lm_head'], seed: 3 });
      adapter!.b.assign(tf.tidy(() => tf.randomNormal(adapter!.b.shape, 0, 0.5, 'float32', 9)));
      const forward = await model.logits(ids, mask, { output: 'array' });
      const before = tf.memory().numTensors;
      const actual = twoStepLogits(model, 4);
      expect(tf.memory().numTensors).toBe(before);
      expect(relativeError(actual, forward, mask)).toBeLessThan(1e-6);
    } finally {
      model.dispose();
    }
  });
});
