import * as tf from '@tensorflow/tfjs-core';

/**
 * The SwiGLU gate `silu(gate) · up` (`silu(g) = g·σ(g)`) with a hand-written gradient:
 * `dup = dy·g·σ`, `dgate = dy·up·σ·(1 + g·(1 − σ))`. The result is owned by the caller.
 *
 * @example
 * ```ts
 * const hidden = linear(swiglu(linear(x, gateWeight), linear(x, upWeight)), downWeight);
 * ```
 */
export function swiglu(gate: tf.Tensor, up: tf.Tensor): tf.Tensor {
  return swigluWithGradient(gate, up);
}

const swigluWithGradient = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [gate, up, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
  const sigmoid = tf.sigmoid(gate);
  const activated = tf.mul(gate, sigmoid);
  save([up, sigmoid, activated]);
  return {
    value: tf.mul(activated, up),
    gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
      const [u, s, a] = saved as [tf.Tensor, tf.Tensor, tf.Tensor];
      const gradient = dy as tf.Tensor;
      // d silu / dg = σ + g·σ·(1 − σ) = σ + a − a·σ
      const siluGradient = tf.sub(tf.add(s, a), tf.mul(a, s));
      return [tf.mul(tf.mul(gradient, u), siluGradient), tf.mul(gradient, a)];
    },
  };
}) as (gate: tf.Tensor, up: tf.Tensor) => tf.Tensor;
