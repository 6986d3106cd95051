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

/**
 * Why: the wasm backend runs a batched MatMul (batch > 1) 3–5× slower than the same products as
 * separate 2-D matMuls (which go through XNNPACK), so on wasm the batch is split.
 */
function plainBatchMatMul(a: tf.Tensor3D, b: tf.Tensor3D): tf.Tensor3D {
  if (a.shape[0] === 1 || tf.getBackend() !== 'wasm') return tf.matMul(a, b);
  const left = tf.unstack(a) as tf.Tensor2D[];
  const right = tf.unstack(b) as tf.Tensor2D[];
  return tf.stack(left.map((matrix, i) => tf.matMul(matrix, right[i]!))) as tf.Tensor3D;
}

const batchMatMulWithGradient = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [a, b, save] = args as [tf.Tensor3D, tf.Tensor3D, tf.GradSaveFunc];
  save([a, b]);
  return {
    value: plainBatchMatMul(a, b),
    gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
      const [savedA, savedB] = saved as [tf.Tensor3D, tf.Tensor3D];
      const gradient = dy as tf.Tensor3D;
      return [
        plainBatchMatMul(gradient, tf.transpose(savedB, [0, 2, 1])),
        plainBatchMatMul(tf.transpose(savedA, [0, 2, 1]), gradient),
      ];
    },
  };
}) as (a: tf.Tensor3D, b: tf.Tensor3D) => tf.Tensor3D;
