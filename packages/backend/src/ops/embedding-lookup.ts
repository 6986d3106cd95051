import { InvalidInputError } from '@fusechat/core';
import * as tf from '@tensorflow/tfjs-core';
import { customGradient } from './custom-gradient.js';

/**
 * Rows of an embedding `table` `[vocab, dim]` for integer `ids` of any shape: returns
 * `[...ids.shape, dim]`. Differentiable in `table`: the gradient scatters `dy` back onto the
 * looked-up rows with `tf.scatterND` (duplicate ids add up), a kernel every backend has — wasm has
 * no `UnsortedSegmentSum`, which `tf.gather`'s own gradient needs. `ids` are not differentiable.
 *
 * Ownership: the result is a new tensor owned by the caller; the inputs are not disposed.
 *
 * @throws {InvalidInputError} when `table` is not rank 2 or `ids` are not int32.
 *
 * @example
 * ```ts
 * const embedTokens = tf.randomNormal([32000, 512]);          // model.embed_tokens.weight
 * const ids = tf.tensor2d([[1, 15043, 29892]], undefined, 'int32');
 * const hidden = embeddingLookup(embedTokens, ids);            // [1, 3, 512]
 * ```
 */
export function embeddingLookup(table: tf.Tensor, ids: tf.Tensor): tf.Tensor {
  if (table.rank !== 2)
    throw new InvalidInputError(`embeddingLookup: table must be [vocab, dim], got [${table.shape}].`, {
      field: 'table',
    });
  if (ids.dtype !== 'int32')
    throw new InvalidInputError(`embeddingLookup: ids must be int32, got ${ids.dtype}.`, { field: 'ids' });
  const [vocabSize, dim] = table.shape as [number, number];
  const outShape = [...ids.shape, dim];
  const run = customGradient((weights: tf.Tensor, save: tf.GradSaveFunc) => {
    const flatIds = tf.reshape(ids, [-1]);
    save([tf.reshape(flatIds, [-1, 1])]);
    return {
      value: tf.reshape(tf.gather(weights, flatIds), outShape),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => [
        tf.scatterND(saved[0]!, tf.reshape(dy, [-1, dim]), [vocabSize, dim]),
      ],
    };
  });
  return run(table);
}
