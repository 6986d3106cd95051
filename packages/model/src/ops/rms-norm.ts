import * as tf from '@tensorflow/tfjs-core';

/**
 * `transformers` RMSNorm over the last axis: `weight · x / sqrt(mean(x²) + eps)`, in float32.
 * The returned tensor is owned by the caller.
 *
 * @example
 * ```ts
 * const normed = rmsNorm(hidden, weights.get('model.norm.weight')!, 1e-6);
 * ```
 */
export function rmsNorm(x: tf.Tensor, weight: tf.Tensor, eps: number): tf.Tensor {
  return tf.tidy(() => {
    const variance = tf.mean(tf.square(x), -1, true);
    return tf.mul(tf.mul(x, tf.rsqrt(tf.add(variance, eps))), weight);
  });
}
