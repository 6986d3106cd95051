import { registerCoreGradients } from '@fusechat/backend';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { TEST_BACKENDS, useBackend } from '../testing/test-backends.js';
import { createAttentionLayout } from './attention-layout.js';
import { embeddingLookup } from './embedding-lookup.js';
import { linear } from './linear.js';
import { batchMatMul } from './mat-mul.js';

registerCoreGradients();

describe.each(TEST_BACKENDS)('ops (%s)', (backend) => {
  it('embeddingLookup sums the gradient of repeated ids', async () => {
    await useBackend(backend);
    const table = tf.tensor2d([1, 2, 3, 4, 5, 6], [3, 2]);
    const ids = tf.tensor2d([[2, 0, 2, 2]], [1, 4], 'int32');
    const upstream = tf.tensor3d([
      [
        [1, 10],
        [2, 20],
        [3, 30],
        [4, 40],
      ],
    ]);
    const gradient = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(embeddingLookup(t, ids), upstream)))(table);
    expect(Array.from(await embeddingLookup(table, ids).data())).toEqual([5, 6, 1, 2, 5, 6, 5, 6]);
    expect(Array.from(await gradient.data())).toEqual([2, 20, 0, 0, 8, 80]);
    tf.dispose([table, ids, upstream, gradient]);
  });

  it('linear and batchMatMul: values and gradients equal plain tfjs', async () => {
    await useBackend(backend);
    const x = tf.randomNormal([2, 3, 5], 0, 1, 'float32', 1);
    const w = tf.randomNormal([4, 5], 0, 1, 'float32', 2);
    const bias = tf.randomNormal([4], 0, 1, 'float32', 3);
    const mine = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => tf.sum(tf.square(linear(a, b, c))))([
      x,
      w,
      bias,
    ]);
    const plain = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
      tf.sum(tf.square(tf.add(tf.matMul(tf.reshape(a, [6, 5]), b, false, true), c))),
    )([x, w, bias]);
    for (let i = 0; i < 3; i++) {
      const difference = tf.max(tf.abs(tf.sub(mine[i]!, plain[i]!))).dataSync()[0]!;
      expect(difference).toBeLessThan(1e-4);
    }
    // A wide output (like lm_head) takes the other weight-gradient formulation.
    const wideX = tf.randomNormal([3, 2], 0, 1, 'float32', 6);
    const wideW = tf.randomNormal([50, 2], 0, 1, 'float32', 7);
    const wide = tf.grads((p: tf.Tensor, q: tf.Tensor) => tf.sum(tf.square(linear(p, q))))([wideX, wideW]);
    const widePlain = tf.grads((p: tf.Tensor, q: tf.Tensor) =>
      tf.sum(tf.square(tf.matMul(p as tf.Tensor2D, q as tf.Tensor2D, false, true))),
    )([wideX, wideW]);
    for (let i = 0; i < 2; i++) {
      expect(tf.max(tf.abs(tf.sub(wide[i]!, widePlain[i]!))).dataSync()[0]!).toBeLessThan(1e-4);
    }
    tf.dispose([wideX, wideW, ...wide, ...widePlain]);
    const a = tf.randomNormal([3, 4, 5], 0, 1, 'float32', 4);
    const b = tf.randomNormal([3, 5, 2], 0, 1, 'float32', 5);
    const batched = tf.grads((p: tf.Tensor, q: tf.Tensor) =>
      tf.sum(tf.square(batchMatMul(p as tf.Tensor3D, q as tf.Tensor3D))),
    )([a, b]);
    const reference = tf.grads((p: tf.Tensor, q: tf.Tensor) =>
      tf.sum(tf.square(tf.matMul(p as tf.Tensor3D, q as tf.Tensor3D))),
    )([a, b]);
    for (let i = 0; i < 2; i++) {
      expect(tf.max(tf.abs(tf.sub(batched[i]!, reference[i]!))).dataSync()[0]!).toBeLessThan(1e-4);
    }
    tf.dispose([x, w, bias, a, b, ...mine, ...plain, ...batched, ...reference]);
  });
});

describe('createAttentionLayout', () => {
  it('derives position ids from the mask like transformers (left padding → 1 at pads)', () => {
    const layout = createAttentionLayout({
      batch: 2,
      queryLength: 4,
      keyMask: [
        [0, 0, 1, 1],
        [1, 1, 1, 0],
      ],
    });
    expect(Array.from(layout.positionIds)).toEqual([1, 1, 0, 1, 0, 1, 2, 1]);
  });
  it('continues positions after a cache', () => {
    const layout = createAttentionLayout({
      batch: 1,
      queryLength: 1,
      pastLength: 3,
      keyMask: [[0, 1, 1, 1]],
    });
    expect(Array.from(layout.positionIds)).toEqual([2]);
  });
});
