import * as tf from '@tensorflow/tfjs-core';

/**
 * `transformers` RMSNorm over the last axis: `weight · x / sqrt(mean(x²) + eps)`, in float32,
 * with a hand-written gradient (fewer kernels than autodiff, which matters on wasm and cpu):
 * `dx = r·(dn − n·mean(dn·n))`, `dweight = Σ dy·n`, where `n = x·r`, `dn = dy·weight`.
 * The returned tensor is owned by the caller.
 *
 * @example
 * ```ts
 * const normed = rmsNorm(hidden, weights.get('model.norm.weight')!, 1e-6);
 * ```
 */
export function rmsNorm(x: tf.Tensor, weight: tf.Tensor, eps: number): tf.Tensor {
  const normalize = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [input, scale, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    const inverseRms = tf.rsqrt(tf.add(tf.mean(tf.square(input), -1, true), eps));
    const normalized = tf.mul(input, inverseRms);
    save([normalized, inverseRms, scale]);
    return {
      value: tf.mul(normalized, scale),
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const [n, r, w] = saved as [tf.Tensor, tf.Tensor, tf.Tensor];
        const gradient = dy as tf.Tensor;
        const dn = tf.mul(gradient, w);
        const dx = tf.mul(r, tf.sub(dn, tf.mul(n, tf.mean(tf.mul(dn, n), -1, true))));
        const rows = gradient.size / w.size;
        const dw = tf.sum(tf.reshape(tf.mul(gradient, n), [rows, w.size]), 0);
        return [dx, dw];
      },
    };
  }) as (input: tf.Tensor, scale: tf.Tensor) => tf.Tensor;
  return normalize(x, weight);
}
