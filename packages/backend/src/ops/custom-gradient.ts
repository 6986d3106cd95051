import * as tf from '@tensorflow/tfjs-core';

/** What a custom-gradient forward function returns. */
export interface CustomGradientResult {
  value: tf.Tensor;
  gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor | tf.Tensor[];
}

/**
 * `tf.customGrad` with a usable type: tfjs types the forward function as
 * `(...inputs: Array<Tensor | GradSaveFunc>)`, which no function with named tensor parameters
 * satisfies under `strict`.
 *
 * @internal
 */
export function customGradient(
  forward: (...inputs: never[]) => CustomGradientResult,
): (...inputs: tf.Tensor[]) => tf.Tensor {
  return tf.customGrad(forward as unknown as Parameters<typeof tf.customGrad>[0]) as (
    ...inputs: tf.Tensor[]
  ) => tf.Tensor;
}
