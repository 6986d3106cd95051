import type * as tf from '@tensorflow/tfjs-core';
import {
  activePositions,
  assertFiniteLogits,
  readLabelMask,
  readLogitsShape,
  readTargets,
  type TokenMatrix,
} from '../loss-inputs.js';
import { type FusionLossOptions, resolveFusionOptions } from '../loss-options.js';
import { resolveStrategy, sparseCrossEntropy } from '../sparse-cross-entropy.js';
import { fusionTerm, mergeTerms } from '../sparse-loss-plan.js';

/**
 * Sparse soft-target cross-entropy against fused teacher targets: the mean, over positions whose
 * next token is supervised, of `logsumexp(z) − Σ_{v∈K} q_v z_v`, where
 * `q = softmax(targetLogits / temperature)` over the kept slots of the position (id ≠ −1; when an
 * id repeats, its first slot counts and the others are dropped). `variant: 'kl'` returns
 * `CE − H(q)`, the KL divergence, with the same gradient. 0 when nothing is supervised.
 *
 * Never builds a dense `[batch, time, vocab]` target: the K logits per position are gathered,
 * and the gradient `softmax(z) − q` is the softmax with K entries per row overwritten.
 * Target ids and logits are read on the CPU (they come from disk) and validated there.
 * The caller owns the returned scalar.
 *
 * @param logits student logits `[batch, time, vocab]`, float32.
 * @param targetIds `[batch, time, k]` int32 pivot-vocabulary ids, −1 = empty slot (row `t` is the
 *   target for position `t`, i.e. for token `t + 1`).
 * @param targetLogits `[batch, time, k]` teacher logits (or log-probabilities).
 * @param labelMask `[batch, time]`, 1 = token is supervised (HF convention: position `t` takes
 *   part when `labelMask[t + 1] = 1`); a tensor or one array per example.
 * @throws ShapeMismatchError on shapes that disagree; InvalidInputError on ids outside the
 *   vocabulary or a supervised position without entries; NumericalError on NaN/+∞ target logits.
 *
 * @example
 * ```ts
 * const { ids, logits: targetLogits } = packFusedTargets(fusedTargets);
 * const loss = fusionLoss(studentLogits, ids, targetLogits, labelMasks, { temperature: 1 });
 * ```
 */
export function fusionLoss(
  logits: tf.Tensor,
  targetIds: tf.Tensor,
  targetLogits: tf.Tensor,
  labelMask: TokenMatrix,
  options: FusionLossOptions = {},
): tf.Scalar {
  const shape = readLogitsShape(logits);
  const strategy = resolveStrategy(options.strategy);
  const { temperature, variant } = resolveFusionOptions(options);
  const maskValues = readLabelMask(labelMask, shape.batchSize, shape.timeSteps);
  const targets = readTargets(targetIds, targetLogits, shape);
  if (options.checkLogits) assertFiniteLogits(logits);
  const active = activePositions(shape, undefined, maskValues);
  const plan = mergeTerms([fusionTerm(targets, active, shape, temperature, variant)], [1], shape);
  return sparseCrossEntropy(logits, plan, strategy);
}
