import * as tf from '@tensorflow/tfjs-core';

/**
 * Where each query and key of a forward pass sits: which keys are real tokens (not padding),
 * each new token's position id, and how many cached keys precede the new tokens.
 */
export interface AttentionLayout {
  readonly batch: number;
  /** New tokens per row in this pass. */
  readonly queryLength: number;
  /** Cached tokens per row before this pass (0 without a KV cache). */
  readonly pastLength: number;
  /** `batch × (pastLength + queryLength)`, 1 = real token, 0 = padding. */
  readonly keyMask: Uint8Array;
  /** `batch × queryLength` rotary position ids. */
  readonly positionIds: Int32Array;
}

/**
 * Builds an {@link AttentionLayout} from a 0/1 mask over all tokens so far (past and new), with
 * position ids as `transformers` derives them for padded batches: `cumsum(mask) − 1`, and 1 at
 * padding positions. Without a mask every token is real and positions count from 0.
 *
 * @example
 * ```ts
 * // left padding: row 0 has one pad token
 * const layout = createAttentionLayout({ batch: 2, queryLength: 3, keyMask: [[0, 1, 1], [1, 1, 1]] });
 * layout.positionIds; // Int32Array [1, 0, 1, 0, 1, 2]
 * ```
 */
export function createAttentionLayout(options: {
  batch: number;
  queryLength: number;
  pastLength?: number;
  keyMask?: ArrayLike<ArrayLike<number>> | Uint8Array;
}): AttentionLayout {
  const { batch, queryLength } = options;
  const pastLength = options.pastLength ?? 0;
  const keys = pastLength + queryLength;
  const keyMask = new Uint8Array(batch * keys);
  const mask = options.keyMask;
  if (mask === undefined) keyMask.fill(1);
  else if (mask instanceof Uint8Array) keyMask.set(mask);
  else {
    for (let b = 0; b < batch; b++) {
      const row = mask[b]!;
      for (let j = 0; j < keys; j++) keyMask[b * keys + j] = row[j] ? 1 : 0;
    }
  }
  const positionIds = new Int32Array(batch * queryLength);
  for (let b = 0; b < batch; b++) {
    let count = 0;
    for (let j = 0; j < keys; j++) {
      const real = keyMask[b * keys + j]!;
      count += real;
      if (j >= pastLength) positionIds[b * queryLength + j - pastLength] = real ? count - 1 : 1;
    }
  }
  return { batch, queryLength, pastLength, keyMask, positionIds };
}

/** Additive bias for masked attention scores: large enough to zero the softmax, finite to avoid NaN. */
export const MASKED_SCORE = -1e9;

/**
 * Additive attention bias values `[batch, queries, keys]` (0 = attend, {@link MASKED_SCORE} =
 * masked): causal, padding keys masked, and, with a sliding window `w`, only keys with
 * `query position − key position < w` (positions counted in the padded sequence, as
 * `transformers` does).
 *
 * @example
 * ```ts
 * const values = attentionBiasValues(layout, 4096); // Float32Array
 * ```
 */
export function attentionBiasValues(layout: AttentionLayout, slidingWindow: number | null): Float32Array {
  const { batch, queryLength, pastLength, keyMask } = layout;
  const keys = pastLength + queryLength;
  const bias = new Float32Array(batch * queryLength * keys);
  for (let b = 0; b < batch; b++) {
    for (let i = 0; i < queryLength; i++) {
      const query = pastLength + i;
      const offset = (b * queryLength + i) * keys;
      for (let j = 0; j < keys; j++) {
        const visible =
          j <= query && keyMask[b * keys + j] === 1 && (slidingWindow === null || query - j < slidingWindow);
        if (!visible) bias[offset + j] = MASKED_SCORE;
      }
    }
  }
  return bias;
}

/**
 * {@link attentionBiasValues} as a tensor `[batch, 1, 1, queries, keys]` (owned by the caller),
 * shaped to broadcast over grouped heads in `groupedQueryAttention`.
 *
 * @example
 * ```ts
 * const bias = attentionBias(layout, null); // full causal attention
 * ```
 */
export function attentionBias(layout: AttentionLayout, slidingWindow: number | null): tf.Tensor {
  const keys = layout.pastLength + layout.queryLength;
  return tf.tensor(attentionBiasValues(layout, slidingWindow), [
    layout.batch,
    1,
    1,
    layout.queryLength,
    keys,
  ]);
}
