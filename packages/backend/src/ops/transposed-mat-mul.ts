import * as tf from '@tensorflow/tfjs-core';

/**
 * tfjs backends whose matMul with transposeA/transposeB is much slower than transpose + matMul:
 * wasm (10–30×). On cpu the flags cost nothing and explicit transposes only add work (measured in
 * bench/backend.bench.ts), as on the native backends.
 */
const EXPLICIT_TRANSPOSE_BACKENDS = new Set(['wasm']);

/**
 * `x @ y` with either operand's last two axes transposed. On wasm the transposes are explicit
 * `tf.transpose` calls: wasm's matMul with transposeA/B is 10–30× slower than its plain matMul,
 * and a transpose costs O(n²) against the product's O(n³). Other backends take the flags. Call inside `tf.tidy`; the result belongs to the caller.
 *
 * @internal
 */
export function transposedMatMul(
  x: tf.Tensor,
  y: tf.Tensor,
  transposeX: boolean,
  transposeY: boolean,
): tf.Tensor {
  if (!transposeX && !transposeY) return tf.matMul(x, y);
  if (!EXPLICIT_TRANSPOSE_BACKENDS.has(tf.getBackend())) return tf.matMul(x, y, transposeX, transposeY);
  return tf.matMul(transposeX ? swapLastTwoAxes(x) : x, transposeY ? swapLastTwoAxes(y) : y);
}

/** @internal */
export function swapLastTwoAxes(x: tf.Tensor): tf.Tensor {
  const rank = x.rank;
  const perm = Array.from({ length: rank }, (_, i) => i);
  perm[rank - 2] = rank - 1;
  perm[rank - 1] = rank - 2;
  return tf.transpose(x, perm);
}
