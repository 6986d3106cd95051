import * as tf from '@tensorflow/tfjs-core';

/**
 * `x · weightᵀ (+ bias)` for a Hugging Face `[out, in]` weight, over the last axis of `x` (any
 * rank ≥ 2), with a custom gradient built from plain matMuls and explicit transposes.
 *
 * Why: on the wasm backend matMul with `transposeA`/`transposeB` is 10–50× slower than an explicit
 * transpose followed by a plain matMul, and tfjs's built-in MatMul gradient uses those flags.
 * The returned tensor is owned by the caller (or the enclosing `tf.tidy`).
 *
 * @example
 * ```ts
 * const y = linear(x, weights.get('model.layers.0.mlp.up_proj.weight')!); // [b, t, 4h]
 * ```
 */
export function linear(x: tf.Tensor, weight: tf.Tensor, bias?: tf.Tensor): tf.Tensor {
  const inFeatures = x.shape[x.shape.length - 1]!;
  const outFeatures = weight.shape[0]!;
  const rows = x.size / inFeatures;
  const flat = x.rank === 2 ? (x as tf.Tensor2D) : tf.reshape(x, [rows, inFeatures]);
  let y: tf.Tensor = linear2d(flat as tf.Tensor2D, weight as tf.Tensor2D);
  if (bias !== undefined) y = tf.add(y, bias);
  return x.rank === 2 ? y : tf.reshape(y, [...x.shape.slice(0, -1), outFeatures]);
}

const linear2d = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [x, weight, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.GradSaveFunc];
  save([x, weight]);
  return {
    value: tf.matMul(x, tf.transpose(weight)),
    gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
      const [savedX, savedWeight] = saved as [tf.Tensor2D, tf.Tensor2D];
      const gradient = dy as tf.Tensor2D;
      const [rows, outFeatures] = gradient.shape;
      const inFeatures = savedX.shape[1];
      // dW = dyᵀ·x, or (xᵀ·dy)ᵀ when that transposes fewer elements (wide outputs such as lm_head).
      const weightGradient =
        rows * outFeatures <= rows * inFeatures + inFeatures * outFeatures
          ? tf.matMul(tf.transpose(gradient), savedX)
          : tf.transpose(tf.matMul(tf.transpose(savedX), gradient));
      return [tf.matMul(gradient, savedWeight), weightGradient];
    },
  };
}) as (x: tf.Tensor2D, weight: tf.Tensor2D) => tf.Tensor2D;
