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
 * Why: on wasm a batched MatMul (batch > 1) runs 3–5× slower than the same products as 2-D
 * matMuls (which go through XNNPACK), and taking the batch apart with tf.slice / tf.unstack is
 * slower still (those kernels copy element by element). So on wasm the operands are read into JS
 * once and each product is a 2-D matMul. Only used inside custom gradients (no autodiff needed).
 */
function plainBatchMatMul(a: tf.Tensor3D, b: tf.Tensor3D): tf.Tensor3D {
  if (a.shape[0] === 1 || tf.getBackend() !== 'wasm') return tf.matMul(a, b);
  const [batch, rows, inner] = a.shape;
  const columns = b.shape[2];
  const left = a.dataSync() as Float32Array;
  const right = b.dataSync() as Float32Array;
  const result = new Float32Array(batch * rows * columns);
  for (let i = 0; i < batch; i++) {
    const product = tf.tidy(() =>
      tf.matMul(
        tf.tensor2d(left.subarray(i * rows * inner, (i + 1) * rows * inner), [rows, inner]),
        tf.tensor2d(right.subarray(i * inner * columns, (i + 1) * inner * columns), [inner, columns]),
      ),
    );
    result.set(product.dataSync(), i * rows * columns);
    product.dispose();
  }
  return tf.tensor3d(result, [batch, rows, columns]);
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
