import type { PackedTargets } from '@fusechat/distillation-loss';

/**
 * One micro-batch of the training loop: right-padded token rows, `transformers`-style labels and,
 * for fusion training, the fused teacher targets packed as `[batch, time, k]`.
 *
 * Label convention: `labels[b][t]` is the token position `t − 1` must predict (−100 = not
 * supervised: context, padding). Position `t` takes part in the losses when `labels[b][t + 1]`
 * is not −100; `targets` row `t` is the fused teacher distribution of that prediction.
 */
export interface TrainingBatch {
  /** Example ids, one per row (for logs and debugging). */
  readonly exampleIds: readonly string[];
  /** `[batch][time]` token ids, right-padded. */
  readonly inputIds: readonly (readonly number[])[];
  /** `[batch][time]` 1 = real token, 0 = padding. */
  readonly attentionMask: readonly (readonly number[])[];
  /** `[batch][time]` supervised target ids (−100 elsewhere). */
  readonly labels: readonly (readonly number[])[];
  /**
   * Fused teacher targets `[batch, time, k]` (ids −1 in empty slots), already tempered and mixed:
   * the loss applies them at temperature 1. Absent for plain CLM data.
   */
  readonly targets?: PackedTargets | undefined;
  /** Positions whose next label is supervised: the denominator of both loss terms. */
  readonly supervisedPositions: number;
  /** Real (unpadded) tokens. */
  readonly tokens: number;
  /** `batch × time`. */
  readonly paddedTokens: number;
}
