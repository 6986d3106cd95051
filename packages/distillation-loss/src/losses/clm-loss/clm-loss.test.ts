import { createRandom, InvalidInputError, ShapeMismatchError } from '@fusechat/core';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { BACKENDS, useBackend } from '../../../test/backends.js';
import {
  finiteDifferenceGradient,
  gradientMismatches,
  randomLogits,
  referenceClm,
} from '../../../test/reference.js';
import { clmLoss } from './clm-loss.js';

const STRATEGIES = ['softmax-kernel', 'broadcast-free'] as const;

describe.each(BACKENDS)('clmLoss on %s', (backend) => {
  describe.each(STRATEGIES)('strategy %s', (strategy) => {
    it('matches the float64 reference and finite differences', async () => {
      await useBackend(backend);
      const random = createRandom(7);
      const logits = randomLogits(() => random.float(), 2, 5, 11);
      const labels = [
        [-100, 3, 10, -100, 0],
        [4, 4, -100, 9, 2],
      ];
      const mask = [
        [1, 1, 1, 1, 1],
        [1, 1, 1, 0, 1],
      ];
      const z = tf.tensor3d(logits);
      const value = clmLoss(z, labels, mask, { strategy });
      expect(value.dataSync()[0]).toBeCloseTo(referenceClm(logits, labels, mask), 5);
      const relative = Math.abs(value.dataSync()[0]! / referenceClm(logits, labels, mask) - 1);
      expect(relative).toBeLessThan(1e-5);
      const gradient = tf.grad((x: tf.Tensor) => clmLoss(x, labels, mask, { strategy }))(z);
      const expected = finiteDifferenceGradient((x) => referenceClm(x, labels, mask), logits);
      expect(gradientMismatches(gradient.arraySync() as number[][][], expected)).toEqual([]);
      tf.dispose([z, value, gradient]);
    });

    it('is stable for logits of magnitude 1e4', async () => {
      await useBackend(backend);
      const random = createRandom(3);
      const logits = randomLogits(() => random.float(), 1, 4, 9, 1e4);
      logits[0]![1]![2] = -1e4;
      const labels = [[0, 2, 5, 8]];
      const z = tf.tensor3d(logits);
      const value = clmLoss(z, labels, undefined, { strategy });
      const expected = referenceClm(logits, labels);
      expect(Math.abs(value.dataSync()[0]! - expected)).toBeLessThanOrEqual(1e-5 * Math.abs(expected));
      const gradient = tf.grad((x: tf.Tensor) => clmLoss(x, labels, undefined, { strategy }))(z);
      const differences = finiteDifferenceGradient((x) => referenceClm(x, labels), logits);
      expect(gradientMismatches(gradient.arraySync() as number[][][], differences)).toEqual([]);
      tf.dispose([z, value, gradient]);
    });

    it('returns 0 with a zero gradient when nothing is supervised', async () => {
      await useBackend(backend);
      const z = tf.randomNormal([2, 3, 5]);
      const labels = [
        [1, -100, -100],
        [2, 3, 4],
      ];
      const mask = [
        [1, 1, 1],
        [1, 0, 0],
      ];
      const value = clmLoss(z, labels, mask, { strategy });
      expect(value.dataSync()[0]).toBe(0);
      const gradient = tf.grad((x: tf.Tensor) => clmLoss(x, labels, mask, { strategy }))(z);
      expect(Array.from(gradient.dataSync()).every((g) => g === 0)).toBe(true);
      tf.dispose([z, value, gradient]);
    });
  });

  it('keeps the number of tensors constant across calls', async () => {
    await useBackend(backend);
    const z = tf.randomNormal([2, 4, 16]);
    const labels = tf.tensor2d(
      [
        [1, 2, 3, 4],
        [5, 6, -100, 7],
      ],
      [2, 4],
      'int32',
    );
    const step = () => {
      const gradient = tf.grad((x: tf.Tensor) => clmLoss(x, labels))(z);
      const value = clmLoss(z, labels);
      tf.dispose([gradient, value]);
    };
    step();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) step();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([z, labels]);
  });

  it('rejects bad input with errors naming the tensor', async () => {
    await useBackend(backend);
    const z = tf.zeros([1, 3, 4]);
    expect(() => clmLoss(z, [[0, 1, 7]])).toThrow(InvalidInputError);
    expect(() => clmLoss(z, [[0, 1, 7]])).toThrow(/labels\[0\]\[2\] = 7/);
    expect(() => clmLoss(z, [[0, 1, -5]])).toThrow(/labels\[0\]\[2\] = -5/);
    expect(() => clmLoss(z, [[0, 1, 2, 3]])).toThrow(ShapeMismatchError);
    expect(() => clmLoss(z, tf.zeros([1, 4], 'int32'))).toThrow(/labels must have shape \[1, 3\]/);
    expect(() => clmLoss(z, [[0, 1, 2]], [[1, 1]], {})).not.toThrow();
    expect(() => clmLoss(z, [[0, 1, 2]], [[1, 1], [1]])).toThrow(ShapeMismatchError);
    expect(() => clmLoss(tf.zeros([3, 4]), [[0, 1, 2]])).toThrow(/rank 3/);
    expect(() => clmLoss(z, [[0, 1.5, 2]])).toThrow(/not an integer/);
    const nan = tf.tensor3d([
      [
        [0, 0, 0, 0],
        [0, Number.NaN, 0, 0],
        [0, 0, 0, 0],
      ],
    ]);
    expect(() => clmLoss(nan, [[0, 1, 2]], undefined, { checkLogits: true })).toThrow(
      /logits\[0\]\[1\]\[1\] is NaN/,
    );
    tf.dispose([z, nan]);
  });
});
