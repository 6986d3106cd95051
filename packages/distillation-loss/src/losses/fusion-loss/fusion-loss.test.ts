import { createRandom, InvalidInputError, NumericalError, ShapeMismatchError } from '@fusechat/core';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { BACKENDS, useBackend } from '../../../test/backends.js';
import {
  finiteDifferenceGradient,
  gradientMismatches,
  type Logits3,
  randomLogits,
  referenceFusion,
} from '../../../test/reference.js';
import { fusionLoss } from './fusion-loss.js';

const STRATEGIES = ['softmax-kernel', 'broadcast-free'] as const;

function expectClose(actual: number, expected: number, relative = 1e-5): void {
  expect(Math.abs(actual - expected)).toBeLessThanOrEqual(relative * Math.max(Math.abs(expected), 1e-6));
}

function expectGradient(actual: Logits3, expected: Logits3): void {
  expect(gradientMismatches(actual, expected)).toEqual([]);
}

/** Targets with padding, a duplicated id and an id listed after padding. */
function sampleTargets(random: () => number, batch: number, time: number, k: number, vocab: number) {
  const ids: number[][][] = [];
  const logits: number[][][] = [];
  for (let b = 0; b < batch; b++) {
    ids.push([]);
    logits.push([]);
    for (let t = 0; t < time; t++) {
      const rowIds = Array.from({ length: k }, () => Math.floor(random() * vocab));
      if (k > 2) rowIds[k - 1] = rowIds[0]!; // duplicate: the first occurrence counts
      if (k > 3) rowIds[1] = -1; // an empty slot in the middle
      ids[b]!.push(rowIds);
      logits[b]!.push(Array.from({ length: k }, () => Math.fround(random() * 6 - 3)));
    }
  }
  return { ids, logits };
}

describe.each(BACKENDS)('fusionLoss on %s', (backend) => {
  describe.each(STRATEGIES)('strategy %s', (strategy) => {
    it.each([
      { variant: 'ce' as const, temperature: 1 },
      { variant: 'kl' as const, temperature: 1 },
      { variant: 'ce' as const, temperature: 2.5 },
    ])('matches the float64 reference and finite differences ($variant, T=$temperature)', async (options) => {
      await useBackend(backend);
      const random = createRandom(11);
      const [B, T, V, K] = [2, 5, 13, 5];
      const logits = randomLogits(() => random.float(), B, T, V);
      const targets = sampleTargets(() => random.float(), B, T, K, V);
      const mask = [
        [0, 0, 1, 1, 1],
        [0, 1, 1, 0, 1],
      ];
      const z = tf.tensor3d(logits);
      const ids = tf.tensor3d(targets.ids, [B, T, K], 'int32');
      const targetLogits = tf.tensor3d(targets.logits);
      const loss = (x: tf.Tensor) => fusionLoss(x, ids, targetLogits, mask, { ...options, strategy });
      const reference = (x: Logits3) => referenceFusion(x, targets.ids, targets.logits, mask, options);
      const value = loss(z);
      expectClose(value.dataSync()[0]!, reference(logits));
      const gradient = tf.grad(loss)(z);
      expectGradient(gradient.arraySync() as Logits3, finiteDifferenceGradient(reference, logits));
      tf.dispose([z, ids, targetLogits, value, gradient]);
    });

    it('handles k larger than the vocabulary (with padding and repeats)', async () => {
      await useBackend(backend);

      const logits: Logits3 = [
        [
          [1, -2, 0.5],
          [3, 3, -1],
          [0, 0, 0],
        ],
      ];
      const targetIds = [
        [
          [2, 0, -1, 2, 1, -1, 0],
          [1, -1, -1, -1, -1, -1, -1],
          [0, 1, 2, -1, -1, 2, 1],
        ],
      ];
      const targetValues = [
        [
          [0.5, 1, 9, 7, -2, 0, 3],
          [0, 0, 0, 0, 0, 0, 0],
          [1, 1, 1, 0, 0, 0, 0],
        ],
      ];
      const mask = [[1, 1, 1]];
      const z = tf.tensor3d(logits);
      const ids = tf.tensor3d(targetIds, [1, 3, 7], 'int32');
      const values = tf.tensor3d(targetValues);
      const loss = (x: tf.Tensor) => fusionLoss(x, ids, values, mask, { strategy });
      const reference = (x: Logits3) => referenceFusion(x, targetIds, targetValues, mask);
      const value = loss(z);
      expectClose(value.dataSync()[0]!, reference(logits));
      const gradient = tf.grad(loss)(z);
      expectGradient(gradient.arraySync() as Logits3, finiteDifferenceGradient(reference, logits));
      tf.dispose([z, ids, values, value, gradient]);
    });

    it('is exact for logits of magnitude 1e4', async () => {
      await useBackend(backend);
      const random = createRandom(5);
      const [B, T, V, K] = [1, 4, 17, 4];
      const logits = randomLogits(() => random.float(), B, T, V, 1e4);
      const targets = sampleTargets(() => random.float(), B, T, K, V);
      const mask = [[1, 1, 1, 1]];
      const z = tf.tensor3d(logits);
      const ids = tf.tensor3d(targets.ids, [B, T, K], 'int32');
      const targetLogits = tf.tensor3d(
        targets.logits.map((rows) => rows.map((row) => row.map((x) => x * 1e3))),
      );
      const teacher = targetLogits.arraySync() as number[][][];
      const reference = (x: Logits3) => referenceFusion(x, targets.ids, teacher, mask);
      const value = fusionLoss(z, ids, targetLogits, mask, { strategy });
      expectClose(value.dataSync()[0]!, reference(logits));
      const gradient = tf.grad((x: tf.Tensor) => fusionLoss(x, ids, targetLogits, mask, { strategy }))(z);
      expectGradient(gradient.arraySync() as Logits3, finiteDifferenceGradient(reference, logits));
      tf.dispose([z, ids, targetLogits, value, gradient]);
    });
  });

  it('is 0 with a zero gradient when nothing is supervised', async () => {
    await useBackend(backend);
    const z = tf.randomNormal([2, 3, 6]);
    const ids = tf.fill([2, 3, 2], 1, 'int32');
    const logits = tf.zeros([2, 3, 2]);
    const value = fusionLoss(z, ids, logits, [
      [1, 0, 0],
      [0, 0, 0],
    ]);
    expect(value.dataSync()[0]).toBe(0);
    const gradient = tf.grad((x: tf.Tensor) => fusionLoss(x, ids, logits, [[1], [0, 0, 0]]))(z);
    expect(Array.from(gradient.dataSync()).every((g) => g === 0)).toBe(true);
    tf.dispose([z, ids, logits, value, gradient]);
  });

  it('gives KL = 0 when the student equals the teacher on the kept ids', async () => {
    await useBackend(backend);
    // Student logits over a vocabulary of 4 that put all mass on ids 1 and 3 as the teacher does.
    const z = tf.tensor3d([
      [
        [-1e4, 2, -1e4, 0.5],
        [0, 0, 0, 0],
      ],
    ]);
    const ids = tf.tensor3d(
      [
        [
          [3, 1],
          [0, 1],
        ],
      ],
      [1, 2, 2],
      'int32',
    );
    const teacher = tf.tensor3d([
      [
        [0.5, 2],
        [0, 0],
      ],
    ]);
    const value = fusionLoss(z, ids, teacher, [[0, 1]], { variant: 'kl' });
    expect(Math.abs(value.dataSync()[0]!)).toBeLessThan(1e-6);
    tf.dispose([z, ids, teacher, value]);
  });

  it('keeps the number of tensors constant across calls', async () => {
    await useBackend(backend);
    const z = tf.randomNormal([2, 4, 32]);
    const ids = tf.tensor3d(
      Array.from({ length: 2 * 4 * 3 }, (_, i) => (i * 7) % 32),
      [2, 4, 3],
      'int32',
    );
    const logits = tf.randomNormal([2, 4, 3]);
    const mask = tf.tensor2d([1, 1, 1, 1, 0, 1, 1, 0], [2, 4], 'int32');
    const step = () => {
      const gradient = tf.grad((x: tf.Tensor) => fusionLoss(x, ids, logits, mask))(z);
      const value = fusionLoss(z, ids, logits, mask);
      tf.dispose([gradient, value]);
    };
    step();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) step();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([z, ids, logits, mask]);
  });

  it('rejects bad input with errors naming the tensor', async () => {
    await useBackend(backend);
    const z = tf.zeros([1, 2, 4]);
    const ids = tf.tensor3d(
      [
        [
          [0, 1],
          [2, 3],
        ],
      ],
      [1, 2, 2],
      'int32',
    );
    const logits = tf.zeros([1, 2, 2]);
    const mask = [[1, 1]];
    const outside = tf.tensor3d(
      [
        [
          [0, 4],
          [2, 3],
        ],
      ],
      [1, 2, 2],
      'int32',
    );
    expect(() => fusionLoss(z, outside, logits, mask)).toThrow(InvalidInputError);
    expect(() => fusionLoss(z, outside, logits, mask)).toThrow(/targetIds\[0\]\[0\]\[1\] = 4 is outside/);
    const shortK = tf.zeros([1, 2, 3]);
    expect(() => fusionLoss(z, ids, shortK, mask)).toThrow(ShapeMismatchError);
    const wrongTime = tf.zeros([1, 3, 2], 'int32');
    expect(() => fusionLoss(z, wrongTime, logits, mask)).toThrow(/targetIds must have shape \[1, 2, k\]/);
    expect(() => fusionLoss(z, ids, logits, [[1, 1, 1]])).toThrow(/labelMask\[0\] has 3 entries/);
    expect(() => fusionLoss(z, ids, logits, [[-100, 1]])).toThrow(
      /labelMask\[0\]\[0\] is -100: a label mask holds 0 or 1/,
    );
    const floatIds = tf.zeros([1, 2, 2]);
    expect(() => fusionLoss(z, floatIds, logits, mask)).toThrow(/targetIds must be int32/);
    const nan = tf.tensor3d([
      [
        [0, Number.NaN],
        [0, 0],
      ],
    ]);
    expect(() => fusionLoss(z, ids, nan, mask)).toThrow(NumericalError);
    expect(() => fusionLoss(z, ids, nan, mask)).toThrow(/targetLogits\[0\]\[0\]\[1\] is NaN/);
    expect(() => fusionLoss(z, ids, nan, [[1, 0]])).not.toThrow(); // position 0 is not supervised
    const empty = tf.tensor3d(
      [
        [
          [-1, -1],
          [2, 3],
        ],
      ],
      [1, 2, 2],
      'int32',
    );
    expect(() => fusionLoss(z, empty, logits, mask)).toThrow(/targetIds\[0\]\[0\] has no entries/);
    expect(() => fusionLoss(z, ids, logits, mask, { temperature: 0 })).toThrow(/temperature/);
    expect(() => fusionLoss(z, ids, logits, mask, { variant: 'js' as 'kl' })).toThrow(/variant/);
    expect(() => fusionLoss(z, ids, logits, mask, { strategy: 'fast' as 'auto' })).toThrow(
      /Unknown softmax strategy/,
    );
    tf.dispose([z, ids, logits, outside, shortK, wrongTime, floatIds, nan, empty]);
  });
});
