import { ShapeMismatchError } from '@fusechat/core';
import type * as tf from '@tensorflow/tfjs-core';
import { customGradient } from './custom-gradient.js';
import { transposedMatMul } from './transposed-mat-mul.js';

export interface BatchMatMulOptions {
  /** Use `a`'s last two axes transposed. */
  transposeA?: boolean;
  /** Use `b`'s last two axes transposed (e.g. `q · kᵀ`). */
  transposeB?: boolean;
}

/**
 * Batched matrix product over leading axes, e.g. attention scores `q · kᵀ` and `p · v` over
 * `[batch, heads, time, headDim]`. `a` and `b` have the same rank (≥ 2) and the same leading
 * axes (no broadcasting). Forward and gradient transpose explicitly on wasm, where matMul with
 * transposeA/B is 10–30× slower; other backends (cpu, native) use the flags, which cost them nothing.
 *
 * Ownership: the result is a new tensor owned by the caller; the inputs are not disposed.
 *
 * @throws {ShapeMismatchError} on differing ranks, leading axes or inner sizes.
 *
 * @example
 * ```ts
 * const q = tf.randomNormal([1, 4, 16, 32]);
 * const k = tf.randomNormal([1, 4, 16, 32]);
 * const scores = batchMatMul(q, k, { transposeB: true }); // [1, 4, 16, 16]
 * ```
 */
export function batchMatMul(a: tf.Tensor, b: tf.Tensor, options: BatchMatMulOptions = {}): tf.Tensor {
  const transposeA = options.transposeA ?? false;
  const transposeB = options.transposeB ?? false;
  const rank = a.rank;
  const inner = (x: tf.Tensor, transposed: boolean, left: boolean) =>
    x.shape[x.rank - (left !== transposed ? 1 : 2)];
  if (
    rank < 2 ||
    b.rank !== rank ||
    a.shape.slice(0, -2).some((size, axis) => size !== b.shape[axis]) ||
    inner(a, transposeA, true) !== inner(b, transposeB, false)
  )
    throw new ShapeMismatchError(
      `batchMatMul: cannot multiply [${a.shape}]${transposeA ? 'ᵀ' : ''} by [${b.shape}]${transposeB ? 'ᵀ' : ''} (same rank ≥ 2, same leading axes, matching inner sizes needed).`,
      { expectedShape: a.shape, actualShape: b.shape, details: { transposeA, transposeB } },
    );
  const run = customGradient((left: tf.Tensor, right: tf.Tensor, save: tf.GradSaveFunc) => {
    save([left, right]);
    return {
      value: transposedMatMul(left, right, transposeA, transposeB),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [x, y] = saved as [tf.Tensor, tf.Tensor];
        // C = op(a) op(b); the four cases as in tfjs-core's BatchMatMul gradient.
        if (!transposeA && !transposeB)
          return [transposedMatMul(dy, y, false, true), transposedMatMul(x, dy, true, false)];
        if (!transposeA && transposeB)
          return [transposedMatMul(dy, y, false, false), transposedMatMul(dy, x, true, false)];
        if (transposeA && !transposeB)
          return [transposedMatMul(y, dy, false, true), transposedMatMul(x, dy, false, false)];
        return [transposedMatMul(y, dy, true, true), transposedMatMul(dy, x, true, true)];
      },
    };
  });
  return run(a, b);
}
