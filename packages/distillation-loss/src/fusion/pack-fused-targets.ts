import { InvalidInputError, type SparseDistributions } from '@fusechat/core';
import * as tf from '@tensorflow/tfjs-core';

/** Options of {@link packFusedTargets}. */
export interface PackOptions {
  /** Time steps of the batch (default: the longest example). Shorter examples are padded. */
  readonly timeSteps?: number;
  /** Slots per position (default: the largest `k`). Longer rows keep their first `k` kept entries. */
  readonly k?: number;
}

/** Fused targets of a batch as flat row-major `[batch, time, k]` arrays. */
export interface PackedTargets {
  readonly shape: readonly [number, number, number];
  /** −1 = empty slot (padding, dropped duplicates, positions beyond an example's length). */
  readonly ids: Int32Array;
  /** 0 in empty slots. */
  readonly logits: Float32Array;
}

/**
 * Packs per-example fused targets into padded `[batch, time, k]` arrays: ids (−1 padding) and
 * logits (0 padding). Duplicate ids within a row keep their first occurrence only.
 *
 * @example
 * ```ts
 * const packed = packFusedTargetArrays(examples.map((e) => e.fused.distributions), { timeSteps: 512 });
 * packed.shape; // [batch, 512, k]
 * ```
 */
export function packFusedTargetArrays(
  targets: readonly SparseDistributions[],
  options: PackOptions = {},
): PackedTargets {
  if (targets.length === 0)
    throw new InvalidInputError('packFusedTargets needs at least one example', { field: 'targets' });
  const timeSteps = options.timeSteps ?? Math.max(...targets.map((target) => target.length));
  const k = options.k ?? Math.max(...targets.map((target) => target.k));
  if (!Number.isInteger(timeSteps) || timeSteps < 1) {
    throw new InvalidInputError(`timeSteps must be an integer ≥ 1, got ${timeSteps}`, { field: 'timeSteps' });
  }
  if (!Number.isInteger(k) || k < 1)
    throw new InvalidInputError(`k must be an integer ≥ 1, got ${k}`, { field: 'k' });
  const ids = new Int32Array(targets.length * timeSteps * k).fill(-1);
  const logits = new Float32Array(targets.length * timeSteps * k);
  targets.forEach((target, b) => {
    if (target.length > timeSteps) {
      throw new InvalidInputError(
        `targets[${b}] has ${target.length} positions, more than timeSteps = ${timeSteps}`,
        {
          field: `targets[${b}]`,
        },
      );
    }
    for (let t = 0; t < target.length; t++) {
      const base = (b * timeSteps + t) * k;
      let filled = 0;
      for (let slot = 0; slot < target.k && filled < k; slot++) {
        const id = target.ids[t * target.k + slot]!;
        if (id === -1) continue;
        let duplicate = false;
        for (let previous = 0; previous < filled; previous++) duplicate ||= ids[base + previous] === id;
        if (duplicate) continue;
        ids[base + filled] = id;
        logits[base + filled] = target.logits[t * target.k + slot]!;
        filled++;
      }
    }
  });
  return { shape: [targets.length, timeSteps, k], ids, logits };
}

/**
 * {@link packFusedTargetArrays} as tensors, ready for {@link fusionLoss} / {@link combinedLoss}:
 * `ids` int32 `[batch, time, k]` (−1 padding) and `logits` float32 `[batch, time, k]`.
 * The caller owns (and disposes) both tensors.
 *
 * @example
 * ```ts
 * const { ids, logits } = packFusedTargets(batch.map((example) => example.fused));
 * try { … combinedLoss(studentLogits, { labels, targetIds: ids, targetLogits: logits }) … }
 * finally { tf.dispose([ids, logits]); }
 * ```
 */
export function packFusedTargets(
  targets: readonly SparseDistributions[],
  options: PackOptions = {},
): { ids: tf.Tensor3D; logits: tf.Tensor3D } {
  const packed = packFusedTargetArrays(targets, options);
  const shape = packed.shape as [number, number, number];
  return {
    ids: tf.tensor3d(packed.ids, shape, 'int32'),
    logits: tf.tensor3d(packed.logits, shape, 'float32'),
  };
}
