import * as tf from '@tensorflow/tfjs-core';

/**
 * Rows of `table` (`[vocab, hidden]`) for integer `ids` (any shape) → `[...ids.shape, hidden]`,
 * differentiable with respect to `table` on every backend.
 *
 * Why: `tf.gather`'s gradient is an `UnsortedSegmentSum`, which the wasm backend lacks; this
 * gradient is a `ScatterNd` (duplicates summed), which wasm and cpu both implement.
 *
 * @example
 * ```ts
 * const hidden = embeddingLookup(embedTokens, tf.tensor2d([[1, 2, 3]], [1, 3], 'int32')); // [1, 3, h]
 * ```
 */
export function embeddingLookup(table: tf.Tensor, ids: tf.Tensor): tf.Tensor {
  const hidden = table.shape[1]!;
  const flatIds = tf.reshape(ids, [ids.size]);
  const lookup = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [tableInput, save] = args as [tf.Tensor, tf.GradSaveFunc];
    save([flatIds]);
    return {
      value: tf.gather(tableInput, flatIds),
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const indices = tf.reshape(saved[0]!, [ids.size, 1]);
        return [tf.scatterND(indices, dy as tf.Tensor, tableInput.shape)];
      },
    };
  }) as (tableInput: tf.Tensor) => tf.Tensor;
  const rows = lookup(table);
  return tf.reshape(rows, [...ids.shape, hidden]);
}
