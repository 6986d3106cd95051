import type { SparseDistributions } from './sparse-distributions.js';

/**
 * What distribution capture keeps for one example and one model (DESIGN.md §4): the unpadded
 * token ids, which tokens are supervised labels, the model's top-k next-token distribution at
 * every position and its mean cross-entropy on the supervised tokens.
 *
 * Label convention (Hugging Face): `labelMask[t] = 1` means token `t` is a target, predicted by
 * position `t − 1`. A position `i` takes part in the losses when `labelMask[i + 1] = 1`.
 */
export interface CaptureRecord {
  /** Stable example id, identical across the models captured over the same data. */
  readonly id: string;
  readonly inputIds: Int32Array;
  /** 1 = supervised (assistant) token, 0 = context; same length as `inputIds`. */
  readonly labelMask: Uint8Array;
  /** One row per position of `inputIds`. */
  readonly topK: SparseDistributions;
  /** Mean next-token cross-entropy (nats) over supervised tokens; NaN when none is supervised. */
  readonly ce: number;
  /**
   * Optional: per position `t`, the teacher's log-probability of the actual next token
   * `inputIds[t + 1]` over the full vocabulary (FuseChat's `per_step_metric_ce`, negated);
   * NaN at the last position. Token-level fusion variants need it.
   */
  readonly nextTokenLogProbs?: Float32Array | undefined;
}
