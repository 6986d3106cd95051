import * as tf from '@tensorflow/tfjs-core';

/**
 * Batched `a · b` for rank-3 tensors (`[batch, n, k] · [batch, k, m]`) whose gradient uses
 * explicit transposes and plain matMuls (`transposeA/B` flags are 10–50× slower on wasm).
 * The returned tensor is owned by the caller.
 *
 * @example
 * ```ts
 * const scores = batchMatMul(queries, tf.transpose(keys, [0, 2, 1])); // [b, tq, tk]
 * ```
 */
export function batchMatMul(a: tf.Tensor3D, b: tf.Tensor3D): tf.Tensor3D {
  return batchMatMulWithGradient(a, b);
}

const batchMatMulWithGradient = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [a, b, save] = args as [tf.Tensor3D, tf.Tensor3D, tf.GradSaveFunc];
  save([a, b]);
  return {
    value: tf.matMul(a, b),
    gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
      const [savedA, savedB] = saved as [tf.Tensor3D, tf.Tensor3D];
      const gradient = dy as tf.Tensor3D;
      return [
        tf.matMul(gradient, tf.transpose(savedB, [0, 2, 1])),
        tf.matMul(tf.transpose(savedA, [0, 2, 1]), gradient),
      ];
    },
  };
}) as (a: tf.Tensor3D, b: tf.Tensor3D) => tf.Tensor3D;
