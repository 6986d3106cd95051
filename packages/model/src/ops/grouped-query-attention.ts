import * as tf from '@tensorflow/tfjs-core';
import { batchMatMul } from './mat-mul.js';

/**
 * Scaled dot-product attention with grouped-query heads, as `transformers` computes it
 * (`repeat_kv`: query head `h` reads key/value head `⌊h / (heads / kvHeads)⌋`), without
 * materialising the repeated keys: the queries of a group are stacked instead.
 *
 * Shapes: `queries [b, heads, t, d]`, `keys`/`values [b, kvHeads, s, d]`, `bias [b, 1, 1, t, s]`
 * (see `attentionBias`) → `[b, heads, t, d]`. Differentiable; the result is owned by the caller.
 *
 * @example
 * ```ts
 * const context = groupedQueryAttention(q, k, v, attentionBias(layout, null));
 * ```
 */
export function groupedQueryAttention(
  queries: tf.Tensor4D,
  keys: tf.Tensor4D,
  values: tf.Tensor4D,
  bias: tf.Tensor,
): tf.Tensor4D {
  return tf.tidy(() => {
    const [batch, heads, time, headDim] = queries.shape;
    const kvHeads = keys.shape[1];
    const keyLength = keys.shape[2];
    const group = heads / kvHeads;
    const scaled = tf.mul(queries, 1 / Math.sqrt(headDim));
    // [b, kv, g, t, d] → [b·kv, g·t, d]: the heads of one group read the same keys.
    const stackedQueries = tf.reshape(scaled, [batch * kvHeads, group * time, headDim]) as tf.Tensor3D;
    const flatKeys = tf.reshape(keys, [batch * kvHeads, keyLength, headDim]) as tf.Tensor3D;
    const flatValues = tf.reshape(values, [batch * kvHeads, keyLength, headDim]) as tf.Tensor3D;
    // Explicit transpose: matMul with transposeB is 10–50× slower on wasm.
    const scores = batchMatMul(stackedQueries, tf.transpose(flatKeys, [0, 2, 1]));
    const masked = tf.add(tf.reshape(scores, [batch, kvHeads, group, time, keyLength]), bias);
    const probabilities = tf.softmax(masked, -1);
    const context = batchMatMul(
      tf.reshape(probabilities, [batch * kvHeads, group * time, keyLength]) as tf.Tensor3D,
      flatValues,
    );
    return tf.reshape(context, [batch, heads, time, headDim]) as tf.Tensor4D;
  });
}
