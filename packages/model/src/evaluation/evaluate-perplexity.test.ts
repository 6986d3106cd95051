import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import type { CausalLM } from '../model/causal-lm.js';
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

  it('rowsPerPass bounds the rows of each forward pass and does not change the result', async () => {
    await useBackend(backend);
    const model = createModel(
      {
        modelType: 'llama',
        vocabSize: 31,
        hiddenSize: 16,
        intermediateSize: 32,
        numHiddenLayers: 2,
        numAttentionHeads: 2,
        initializerRange: 0.4,
      },
      { seed: 9 },
    );
    const passes: number[] = [];
    const counted: CausalLM = {
      ...model,
      forward: (inputIds, options) => {
        passes.push((inputIds as number[][]).length);
        return model.forward(inputIds, options);
      },
    };
    const batches = [
      {
        inputIds: [
          [1, 5, 9, 2, 7, 3],
          [0, 0, 3, 4, 6, 30],
          [8, 8, 1, 2, 0, 0],
          [4, 9, 16, 25, 1, 2],
          [3, 3, 3, 3, 3, 3],
        ],
        attentionMask: [
          [1, 1, 1, 1, 1, 1],
          [0, 0, 1, 1, 1, 1],
          [1, 1, 1, 1, 0, 0],
          [1, 1, 1, 1, 1, 1],
          [1, 1, 1, 1, 1, 1],
        ],
      },
      {
        inputIds: [
          [4, 4, 8, 1],
          [2, 7, 1, 8],
          [9, 9, 9, 9],
        ],
        labels: [
          [-100, -100, 8, 1],
          [-100, -100, -100, -100],
          [-100, 9, -100, 9],
        ],
      },
    ];
    try {
      const whole = await evaluatePerplexity(counted, batches, { rowsPerPass: 5 });
      expect(passes).toEqual([5, 3]);
      for (const [rowsPerPass, expected] of [
        [1, [1, 1, 1, 1, 1, 1, 1]],
        [2, [2, 2, 1, 2, 1]],
        [3, [3, 2, 3]],
      ] as const) {
        passes.length = 0;
        const before = tf.memory().numTensors;
        const chunked = await evaluatePerplexity(counted, batches, { rowsPerPass });
        expect(tf.memory().numTensors).toBe(before);
        // A row with nothing scored (batch 2, row 1) is not run at all.
        expect(passes, `rowsPerPass ${rowsPerPass}`).toEqual(expected);
        expect(chunked).toEqual(whole);
      }
      passes.length = 0;
      expect(await evaluatePerplexity(counted, batches)).toEqual(whole);
      expect(passes).toEqual([5, 3]);
      await expect(evaluatePerplexity(model, batches, { rowsPerPass: 0 })).rejects.toMatchObject({
        code: 'MODEL_INVALID_OPTIONS',
      });
      await expect(
        evaluatePerplexity(model, [
          {
            inputIds: [[1, 2]],
            labels: [
              [1, 2],
              [1, 2],
            ],
          },
        ]),
      ).rejects.toMatchObject({ code: 'MODEL_INVALID_INPUT', field: 'labels' });
    } finally {
      model.dispose();
    }
  });
});
