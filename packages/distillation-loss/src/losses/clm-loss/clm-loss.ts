import type * as tf from '@tensorflow/tfjs-core';
import {
  activePositions,
  assertFiniteLogits,
  IGNORE_INDEX,
  readLabelMask,
  readLogitsShape,
  readTokenMatrix,
  type TokenMatrix,
} from '../loss-inputs.js';
import type { LossOptions } from '../loss-options.js';
import { resolveStrategy, sparseCrossEntropy } from '../sparse-cross-entropy.js';
import { clmTerm, mergeTerms } from '../sparse-loss-plan.js';

/**
 * Masked causal-LM cross-entropy: the mean, over supervised tokens, of `−log softmax(z_t)[labels[t+1]]`
 * (Hugging Face shift: position `t` predicts token `t + 1`). A token is supervised when its label
 * is not −100 and, when `labelMask` is given, its mask is not 0. Returns 0 (with a zero gradient)
 * when nothing is supervised.
 *
 * Differentiable w.r.t. `logits` through a hand-written gradient (no registered tfjs gradients
 * needed). Reads `labels`/`labelMask` on the CPU to validate them. The caller owns the returned
 * scalar.
 *
 * @param logits student logits `[batch, time, vocab]`, float32.
 * @param labels `[batch, time]` token ids (typically the input ids), −100 = not supervised;
 *   a tensor or one array per example (short rows are padded with −100).
 * @param labelMask optional `[batch, time]`, 1 = supervised token (`CaptureRecord.labelMask`).
 * @throws ShapeMismatchError when `labels`/`labelMask` do not match `[batch, time]`;
 *   InvalidInputError when a supervised label is outside `[0, vocab)`.
 *
 * @example
 * ```ts
 * const { value, grads } = tf.variableGrads(() => clmLoss(model.logits(inputIds), inputIds, labelMasks));
 * ```
 */
export function clmLoss(
  logits: tf.Tensor,
  labels: TokenMatrix,
  labelMask?: TokenMatrix,
  options: LossOptions = {},
): tf.Scalar {
  const shape = readLogitsShape(logits);
  const strategy = resolveStrategy(options.strategy);
  const labelValues = readTokenMatrix(labels, 'labels', shape.batchSize, shape.timeSteps, IGNORE_INDEX);
  const maskValues =
    labelMask === undefined ? undefined : readLabelMask(labelMask, shape.batchSize, shape.timeSteps);
  if (options.checkLogits) assertFiniteLogits(logits);
  const active = activePositions(shape, labelValues, maskValues);
  const plan = mergeTerms([clmTerm(labelValues, active, shape)], [1], shape);
  return sparseCrossEntropy(logits, plan, strategy);
}
