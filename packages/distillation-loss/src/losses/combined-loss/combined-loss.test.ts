import { createRandom, InvalidInputError } from '@fusechat/core';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { BACKENDS, useBackend } from '../../../test/backends.js';
import {
  finiteDifferenceGradient,
  gradientMismatches,
  type Logits3,
  randomLogits,
  referenceClm,
  referenceCombined,
  referenceFusion,
} from '../../../test/reference.js';
import type { CombinedLossParts } from './combined-loss.js';
import { combinedLoss } from './combined-loss.js';

describe.each(BACKENDS)('combinedLoss on %s', (backend) => {
  it.each([0.9, 0, 1, 0.3])('is λ·CLM + (1−λ)·fusion with exact gradients (λ = %s)', async (lambda) => {
    await useBackend(backend);
    const random = createRandom(21);
    const [B, T, V, K] = [2, 4, 9, 3];
    const logits = randomLogits(() => random.float(), B, T, V);
    const labels = [
      [5, 1, -100, 8],
      [2, 3, 3, 0],
    ];
    const labelMask = [
      [1, 1, 1, 1],
      [1, 0, 1, 1],
    ];
    // Target ids that overlap the labels (shared entries) and each other (duplicates).
    const targetIds = [
      [
        [1, 2, 1],
        [3, -1, 0],
        [8, 4, 7],
        [0, 0, 0],
      ],
      [
        [3, 6, -1],
        [3, 2, 1],
        [0, 8, 0],
        [5, 5, 5],
      ],
    ];
    const targetLogits = targetIds.map((rows) =>
      rows.map((row) => row.map(() => Math.fround(random.float() * 4))),
    );
    const z = tf.tensor3d(logits);
    const ids = tf.tensor3d(targetIds, [B, T, K], 'int32');
    const values = tf.tensor3d(targetLogits);
    let parts: CombinedLossParts | undefined;
    const loss = (x: tf.Tensor) =>
      combinedLoss(
        x,
        { labels, labelMask, targetIds: ids, targetLogits: values },
        { lambda, onParts: (p) => (parts = p) },
      );
    const reference = (x: Logits3) =>
      referenceCombined(x, labels, labelMask, targetIds, targetLogits, lambda);
    const value = loss(z);
    const expected = reference(logits);
    expect(Math.abs(value.dataSync()[0]! - expected)).toBeLessThanOrEqual(1e-5 * expected);
    expect(parts!.clm).toBeCloseTo(referenceClm(logits, labels, labelMask), 5);
    const supervised = labels.map((row, b) =>
      row.map((label, t) => (label === -100 || labelMask[b]![t] === 0 ? 0 : 1)),
    );
    expect(parts!.fusion).toBeCloseTo(referenceFusion(logits, targetIds, targetLogits, supervised), 5);
    expect(parts!.loss).toBeCloseTo(expected, 5);
    const gradient = tf.grad(loss)(z);
    const fd = finiteDifferenceGradient(reference, logits);
    expect(gradientMismatches(gradient.arraySync() as Logits3, fd)).toEqual([]);
    tf.dispose([z, ids, values, value, gradient]);
  });

  it('matches the reference with the KL variant and a temperature', async () => {
    await useBackend(backend);
    const random = createRandom(4);
    const logits = randomLogits(() => random.float(), 1, 3, 6);
    const labels = [[0, 1, 2]];
    const targetIds = [
      [
        [1, 2],
        [2, 3],
        [0, 0],
      ],
    ];
    const targetLogits = [
      [
        [1, 0.5],
        [-1, 2],
        [0, 0],
      ],
    ];
    const z = tf.tensor3d(logits);
    const ids = tf.tensor3d(targetIds, [1, 3, 2], 'int32');
    const values = tf.tensor3d(targetLogits);
    const value = combinedLoss(
      z,
      { labels, targetIds: ids, targetLogits: values },
      { variant: 'kl', temperature: 0.7 },
    );
    const expected = referenceCombined(logits, labels, undefined, targetIds, targetLogits, 0.9, {
      variant: 'kl',
      temperature: 0.7,
    });
    expect(Math.abs(value.dataSync()[0]! - expected)).toBeLessThanOrEqual(1e-5 * Math.abs(expected));
    tf.dispose([z, ids, values, value]);
  });

  it('keeps the number of tensors constant across calls and validates λ', async () => {
    await useBackend(backend);
    const z = tf.randomNormal([1, 3, 8]);
    const ids = tf.tensor3d(
      [
        [
          [1, 2],
          [3, 4],
          [5, 6],
        ],
      ],
      [1, 3, 2],
      'int32',
    );
    const values = tf.zeros([1, 3, 2]);
    const batch = { labels: [[1, 2, 3]], targetIds: ids, targetLogits: values };
    const step = () =>
      tf.dispose(tf.grad((x: tf.Tensor) => combinedLoss(x, batch, { onParts: () => {} }))(z));
    step();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 4; i++) step();
    expect(tf.memory().numTensors).toBe(before);
    expect(() => combinedLoss(z, batch, { lambda: 1.5 })).toThrow(InvalidInputError);
    expect(() => combinedLoss(z, batch, { lambda: Number.NaN })).toThrow(/lambda/);
    tf.dispose([z, ids, values]);
  });
});
