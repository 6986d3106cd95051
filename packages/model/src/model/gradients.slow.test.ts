import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { referenceLogits } from '../testing/reference-llama.js';
import { TEST_BACKENDS, useBackend, weightsAsFloat64 } from '../testing/test-backends.js';
import { createModel } from './create-model.js';

const ids = [
  [3, 9, 27, 4, 11, 20],
  [0, 0, 5, 6, 7, 8],
];
const mask = [
  [1, 1, 1, 1, 1, 1],
  [0, 0, 1, 1, 1, 1],
];

/** A fixed random linear functional of the logits (real positions only): L = Σ r·logits. */
function projectionWeights(batch: number, time: number, vocab: number): Float64Array {
  const values = new Float64Array(batch * time * vocab);
  let state = 12345;
  for (let i = 0; i < values.length; i++) {
    state = (state * 1103515245 + 12345) % 2147483648;
    const b = Math.floor(i / (time * vocab));
    const t = Math.floor(i / vocab) % time;
    values[i] = mask[b]![t] ? state / 2147483648 - 0.5 : 0;
  }
  return values;
}

function referenceLoss(logits: number[][][], weights: Float64Array): number {
  let sum = 0;
  logits.flat(2).forEach((value, i) => {
    sum += value * weights[i]!;
  });
  return sum;
}

describe.each(TEST_BACKENDS)('gradients through every layer (%s)', (backend) => {
  it.each(['llama', 'qwen2', 'mistral'] as const)(
    '%s: tfjs gradients match float64 finite differences',
    async (modelType) => {
      await useBackend(backend);
      const model = createModel(
        {
          modelType,
          vocabSize: 29,
          hiddenSize: 16,
          intermediateSize: 24,
          numHiddenLayers: 2,
          numAttentionHeads: 4,
          numKeyValueHeads: 2,
          initializerRange: 0.3,
          tieWordEmbeddings: modelType === 'qwen2',
          slidingWindow: modelType === 'mistral' ? 3 : null,
        },
        { seed: 11 },
      );
      try {
        for (const [name, variable] of model.weights) {
          if (name.endsWith('.bias')) variable.assign(tf.randomNormal(variable.shape, 0, 0.3, 'float32', 5));
        }
        const r = projectionWeights(2, 6, 29);
        const rTensor = tf.tensor3d(Float32Array.from(r), [2, 6, 29]);
        const { grads } = tf.variableGrads(
          () => tf.sum(tf.mul(model.forward(ids, { attentionMask: mask }), rTensor)) as tf.Scalar,
        );
        const reference = await weightsAsFloat64(model.weights);
        const names = [...model.weights.keys()];
        const nameOf = new Map([...model.weights].map(([name, variable]) => [variable.name, name]));
        expect(Object.keys(grads).length).toBe(names.length);
        let checked = 0;
        for (const [variableName, gradient] of Object.entries(grads)) {
          const name = nameOf.get(variableName)!;
          const values = await gradient.data();
          const tensor = reference.get(name)!;
          // Three entries per tensor: the largest gradient and two fixed ones.
          let largest = 0;
          for (let i = 0; i < values.length; i++)
            if (Math.abs(values[i]!) > Math.abs(values[largest]!)) largest = i;
          for (const index of new Set([largest, 0, Math.floor(values.length / 2)])) {
            const original = tensor[index]!;
            const step = 1e-5;
            tensor[index] = original + step;
            const plus = referenceLoss(referenceLogits(model.config, reference, ids, mask), r);
            tensor[index] = original - step;
            const minus = referenceLoss(referenceLogits(model.config, reference, ids, mask), r);
            tensor[index] = original;
            const numeric = (plus - minus) / (2 * step);
            const scale = Math.max(Math.abs(values[largest]!), 1e-3);
            expect(Math.abs(values[index]! - numeric) / scale, `${name}[${index}]`).toBeLessThan(2e-3);
            checked++;
          }
        }
        expect(checked).toBeGreaterThan(names.length);
        tf.dispose([rTensor, ...Object.values(grads)]);
      } finally {
        model.dispose();
      }
    },
  );
});
