import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { useBackend } from '../testing/test-backends.js';
import { attentionBias, createAttentionLayout } from './attention-layout.js';
import { causalAttention } from './causal-attention.js';
import { groupedQueryAttention } from './grouped-query-attention.js';

describe.each(['cpu', 'wasm'] as const)(
  'causalAttention (%s) equals the generic groupedQueryAttention',
  (backend) => {
    it.each([null, 3])('values and gradients, GQA, padding, cache offset, window %s', async (window) => {
      await useBackend(backend);
      const [batch, time, past, heads, kvHeads, headDim] = [2, 5, 2, 4, 2, 6];
      const keyMask = [
        [1, 1, 1, 1, 1, 1, 1],
        [0, 0, 0, 1, 1, 1, 1],
      ];
      const layout = createAttentionLayout({ batch, queryLength: time, pastLength: past, keyMask });
      const q = tf.randomNormal([batch, time, heads, headDim], 0, 1, 'float32', 1) as tf.Tensor4D;
      const k = tf.randomNormal([batch, past + time, kvHeads, headDim], 0, 1, 'float32', 2) as tf.Tensor4D;
      const v = tf.randomNormal([batch, past + time, kvHeads, headDim], 0, 1, 'float32', 3) as tf.Tensor4D;
      const upstream = tf.randomNormal([batch, time, heads, headDim], 0, 1, 'float32', 4);
      const toHeads = (x: tf.Tensor) => tf.transpose(x, [0, 2, 1, 3]) as tf.Tensor4D;
      const generic = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
        tf.transpose(
          groupedQueryAttention(toHeads(a), toHeads(b), toHeads(c), attentionBias(layout, window)),
          [0, 2, 1, 3],
        );
      const fused = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
        causalAttention(a as tf.Tensor4D, b as tf.Tensor4D, c as tf.Tensor4D, layout, window);
      const loss = (f: typeof generic) => (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
        tf.sum(tf.mul(f(a, b, c), upstream));
      const expected = tf.grads(loss(generic))([q, k, v]);
      const actual = tf.grads(loss(fused))([q, k, v]);
      const difference = (a: tf.Tensor, b: tf.Tensor) =>
        tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
      const valuesExpected = generic(q, k, v);
      const valuesActual = fused(q, k, v);
      // Rows of fully padded queries are unspecified; compare the real ones (row 1 from t = 1).
      const real = (x: tf.Tensor) =>
        tf.concat(
          [tf.slice(x, [0, 0, 0, 0], [1, -1, -1, -1]), tf.slice(x, [1, 1, 0, 0], [1, -1, -1, -1])],
          1,
        );
      expect(difference(real(valuesActual), real(valuesExpected))).toBeLessThan(1e-5);
      for (let i = 0; i < 3; i++) expect(difference(actual[i]!, expected[i]!)).toBeLessThan(1e-4);
      tf.dispose([q, k, v, upstream, ...expected, ...actual, valuesExpected, valuesActual]);
    });
  },
);
