// Runs in its own worker without @fusechat/backend: tfjs-core alone registers no gradients, and
// the losses must still differentiate (their gradient is hand-written with tf.customGrad).
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { expect, it } from 'vitest';
import { combinedLoss } from './combined-loss/combined-loss.js';

it('differentiates with tfjs-core alone (no registered gradients)', async () => {
  await tf.setBackend('cpu');
  expect(tf.getGradient('Softmax')).toBeUndefined();
  expect(tf.getGradient('GatherV2')).toBeUndefined();
  const z = tf.randomNormal([1, 3, 5]);
  const targetIds = tf.tensor3d(
    [
      [
        [1, 2],
        [3, -1],
        [0, 0],
      ],
    ],
    [1, 3, 2],
    'int32',
  );
  const targetLogits = tf.zeros([1, 3, 2]);
  const gradient = tf.grad((x: tf.Tensor) =>
    combinedLoss(x, { labels: [[0, 4, 2]], targetIds, targetLogits }),
  )(z);
  expect(gradient.shape).toEqual([1, 3, 5]);
  // Each active row of softmax(z) − q sums to 0 (both are distributions); the last row is inactive.
  const sums = tf.sum(gradient, -1);
  const rows = sums.arraySync() as number[][];
  for (const value of rows[0]!) expect(Math.abs(value)).toBeLessThan(1e-6);
  tf.dispose([z, targetIds, targetLogits, gradient, sums]);
});
