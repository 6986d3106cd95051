import { InvalidInputError, ShapeMismatchError } from '@fusechat/core';
import * as tf from '@tensorflow/tfjs-core';
import { customGradient } from './custom-gradient.js';
import { transposedMatMul } from './transposed-mat-mul.js';

/**
 * A dense layer with Hugging Face weight layout: `y = x Wᵀ + b` for `x` of shape `[..., in]`,
 * `weight` of shape `[out, in]` (as `nn.Linear` stores it) and optional `bias` `[out]`; returns
 * `[..., out]`. Differentiable in all three inputs with a custom gradient (`dx = dy W`,
 * `dW = dyᵀ x`, `db = Σ dy`) whose transposes are explicit on wasm, where matMul with
 * transposeA/B is 10–30× slower (other backends use the flags). Stateless: nothing is cached.
 *
 * Ownership: the result is a new tensor owned by the caller (dispose it, or call inside
 * `tf.tidy`); the inputs are not disposed.
 *
 * @throws {ShapeMismatchError} when `x`'s last axis is not `weight.shape[1]` or `bias` is not `[out]`.
 *
 * @example
 * ```ts
 * const hidden = tf.randomNormal([2, 16, 64]);       // [batch, time, in]
 * const qProj = tf.randomNormal([128, 64]);           // HF q_proj.weight [out, in]
 * const q = linear(hidden, qProj);                     // [2, 16, 128]
 * const grads = tf.grads((h, w) => tf.sum(linear(h, w)))([hidden, qProj]);
 * ```
 */
export function linear(x: tf.Tensor, weight: tf.Tensor, bias?: tf.Tensor): tf.Tensor {
  if (weight.rank !== 2)
    throw new InvalidInputError(`linear: weight must be [out, in], got shape [${weight.shape}].`, {
      field: 'weight',
    });
  const [outFeatures, inFeatures] = weight.shape as [number, number];
  if (x.rank < 1 || x.shape[x.rank - 1] !== inFeatures)
    throw new ShapeMismatchError(
      `linear: the last axis of x ([${x.shape}]) must equal weight's in-features ${inFeatures}.`,
      { expectedShape: [...x.shape.slice(0, -1), inFeatures], actualShape: x.shape },
    );
  if (bias !== undefined && (bias.rank !== 1 || bias.shape[0] !== outFeatures))
    throw new ShapeMismatchError(`linear: bias must be [${outFeatures}], got [${bias.shape}].`, {
      expectedShape: [outFeatures],
      actualShape: bias.shape,
    });
  const outShape = [...x.shape.slice(0, -1), outFeatures];
  if (bias === undefined) {
    const run = customGradient((input: tf.Tensor, w: tf.Tensor, save: tf.GradSaveFunc) => {
      const rows = tf.reshape(input, [-1, inFeatures]);
      save([rows, w]);
      return {
        value: tf.reshape(transposedMatMul(rows, w, false, true), outShape),
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
          const [dx, dw] = linearGradients(dy, saved[0]!, saved[1]!, outFeatures);
          return [tf.reshape(dx, input.shape), dw];
        },
      };
    });
    return run(x, weight);
  }
  const run = customGradient((input: tf.Tensor, w: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
    const rows = tf.reshape(input, [-1, inFeatures]);
    save([rows, w]);
    return {
      value: tf.reshape(tf.add(transposedMatMul(rows, w, false, true), b), outShape),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [dx, dw, dyRows] = linearGradients(dy, saved[0]!, saved[1]!, outFeatures);
        return [tf.reshape(dx, input.shape), dw, tf.sum(dyRows, 0)];
      },
    };
  });
  return run(x, weight, bias);
}

function linearGradients(
  dy: tf.Tensor,
  rows: tf.Tensor,
  weight: tf.Tensor,
  outFeatures: number,
): [tf.Tensor, tf.Tensor, tf.Tensor] {
  const dyRows = tf.reshape(dy, [-1, outFeatures]);
  const dx = tf.matMul(dyRows, weight); // [n, out] @ [out, in]
  const dw = transposedMatMul(dyRows, rows, true, false); // [out, n] @ [n, in]
  return [dx, dw, dyRows];
}
