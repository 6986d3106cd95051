import { InvalidInputError } from '@fusechat/core';
import type * as tf from '@tensorflow/tfjs-core';
import {
  activePositions,
  assertFiniteLogits,
  IGNORE_INDEX,
  readLabelMask,
  readLogitsShape,
  readTargets,
  readTokenMatrix,
  type TokenMatrix,
} from '../loss-inputs.js';
import { type FusionLossOptions, resolveFusionOptions } from '../loss-options.js';
import { resolveStrategy, sparseCrossEntropy } from '../sparse-cross-entropy.js';
import { clmTerm, fusionTerm, mergeTerms } from '../sparse-loss-plan.js';

/** One training batch for {@link combinedLoss}. */
export interface DistillationBatch {
  /** `[batch, time]` token ids, −100 = not supervised (short rows are padded with −100). */
  readonly labels: TokenMatrix;
  /** Optional `[batch, time]`, 1 = supervised token; ANDed with `labels ≠ −100`. */
  readonly labelMask?: TokenMatrix;
  /** `[batch, time, k]` int32 fused target ids, −1 = empty slot. */
  readonly targetIds: tf.Tensor;
  /** `[batch, time, k]` fused target logits. */
  readonly targetLogits: tf.Tensor;
}

/** The two terms of {@link combinedLoss}, as numbers (for logging). */
export interface CombinedLossParts {
  readonly clm: number;
  readonly fusion: number;
  readonly loss: number;
}

/** Options of {@link combinedLoss}. */
export interface CombinedLossOptions extends FusionLossOptions {
  /** Weight of the CLM term: `L = λ·CLM + (1 − λ)·fusion`. Default 0.9 (FuseChat). */
  readonly lambda?: number;
  /** Receives both terms as numbers (costs one small synchronous read); for metrics. */
  readonly onParts?: (parts: CombinedLossParts) => void;
}

/**
 * FuseChat's training objective `λ·CLM + (1 − λ)·fusion` (λ = 0.9) as a single op: both terms
 * share one softmax over the vocabulary, one gather and one scatter, so the fusion term costs
 * almost nothing on top of the CLM loss. Both terms average over the same positions (those whose
 * next token is supervised); see {@link clmLoss} and {@link fusionLoss} for their definitions.
 * The caller owns the returned scalar.
 *
 * @example
 * ```ts
 * const { value, grads } = tf.variableGrads(() =>
 *   combinedLoss(model.forward(inputIds), { labels: inputIds, labelMask, targetIds, targetLogits }, {
 *     onParts: (parts) => metrics.push(parts),
 *   }),
 * );
 * ```
 */
export function combinedLoss(
  logits: tf.Tensor,
  batch: DistillationBatch,
  options: CombinedLossOptions = {},
): tf.Scalar {
  const shape = readLogitsShape(logits);
  const strategy = resolveStrategy(options.strategy);
  const { temperature, variant } = resolveFusionOptions(options);
  const lambda = options.lambda ?? 0.9;
  if (typeof lambda !== 'number' || !(lambda >= 0 && lambda <= 1)) {
    throw new InvalidInputError(`lambda must be a number in [0, 1], got ${lambda}`, { field: 'lambda' });
  }
  const labels = readTokenMatrix(batch.labels, 'labels', shape.batchSize, shape.timeSteps, IGNORE_INDEX);
  const mask =
    batch.labelMask === undefined
      ? undefined
      : readLabelMask(batch.labelMask, shape.batchSize, shape.timeSteps);
  const targets = readTargets(batch.targetIds, batch.targetLogits, shape);
  if (options.checkLogits) assertFiniteLogits(logits);
  const active = activePositions(shape, labels, mask);
  const plan = mergeTerms(
    [clmTerm(labels, active, shape), fusionTerm(targets, active, shape, temperature, variant)],
    [lambda, 1 - lambda],
    shape,
  );
  const onParts = options.onParts;
  return sparseCrossEntropy(
    logits,
    plan,
    strategy,
    onParts &&
      (([clm, fusion]) =>
        onParts({ clm: clm!, fusion: fusion!, loss: lambda * clm! + (1 - lambda) * fusion! })),
  );
}
