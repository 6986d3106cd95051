import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { createModel } from '../model/create-model.js';
import { referenceLogits } from '../testing/reference-llama.js';
import { TEST_BACKENDS, useBackend, weightsAsFloat64 } from '../testing/test-backends.js';
import { evaluatePerplexity } from './evaluate-perplexity.js';

describe.each(TEST_BACKENDS)('evaluatePerplexity (%s)', (backend) => {
  it('matches a float64 cross-entropy over the scored (shifted) labels', async () => {
    await useBackend(backend);
    const model = createModel(
      {
        modelType: 'qwen2',
        vocabSize: 23,
        hiddenSize: 16,
        intermediateSize: 32,
        numHiddenLayers: 2,
        numAttentionHeads: 2,
        initializerRange: 0.4,
      },
      { seed: 8 },
    );
    try {
      const batches = [
        {
          inputIds: [
            [1, 5, 9, 2, 7],
            [0, 0, 3, 4, 6],
          ],
          attentionMask: [
            [1, 1, 1, 1, 1],
            [0, 0, 1, 1, 1],
          ],
        },
        { inputIds: [[4, 4, 8, 1]], labels: [[-100, -100, 8, 1]] },
      ];
      const weights = await weightsAsFloat64(model.weights);
      let total = 0;
      let count = 0;
      for (const batch of batches) {
        const logits = referenceLogits(model.config, weights, batch.inputIds, batch.attentionMask);
        batch.inputIds.forEach((row, b) => {
          for (let t = 1; t < row.length; t++) {
            const label = batch.labels
              ? batch.labels[b]![t]!
              : batch.attentionMask![b]![t] && batch.attentionMask![b]![t - 1]
                ? row[t]!
                : -100;
            if (label === -100) continue;
            const z = logits[b]![t - 1]!;
            const max = Math.max(...z);
            total += max + Math.log(z.reduce((s, v) => s + Math.exp(v - max), 0)) - z[label]!;
            count++;
          }
        });
      }
      const before = tf.memory().numTensors;
      const result = await evaluatePerplexity(model, batches);
      expect(tf.memory().numTensors).toBe(before);
      expect(result.tokens).toBe(count);
      expect(count).toBe(4 + 2 + 2);
      expect(Math.abs(result.loss - total / count) / (total / count)).toBeLessThan(1e-5);
      expect(result.perplexity).toBeCloseTo(Math.exp(total / count), 4);
    } finally {
      model.dispose();
    }
  });
});
