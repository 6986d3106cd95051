import { clmLoss, combinedLoss } from '@fusechat/distillation-loss';
import type { CausalLM } from '@fusechat/model';
import * as tf from '@tensorflow/tfjs-core';
import type { TrainingBatch } from '../training-batch.js';

/** The objective of the loop: `combinedLoss` with targets, `clmLoss` without. */
export interface LossSettings {
  /** λ of `λ·CLM + (1 − λ)·fusion`. */
  readonly lmLossWeight: number;
  readonly distillLossType: 'ce' | 'kl';
}

/** One accumulated step's gradients and loss terms. */
export interface AccumulatedGradients {
  /** Gradients by the optimizer's parameter names; the caller disposes them. */
  readonly gradients: Map<string, tf.Tensor>;
  /** `Σ_i (n_i / N) · loss_i`: the mean objective over the step's supervised positions. */
  readonly loss: number;
  readonly clm: number;
  /** The fusion term (NaN for plain CLM data). */
  readonly fusion: number;
  /** `N`: supervised positions of the whole step. */
  readonly supervisedPositions: number;
  readonly tokens: number;
}

/**
 * The loss of one micro-batch (a scalar mean over its supervised positions) inside a tape:
 * `combinedLoss` at temperature 1 (targets arrive tempered) or `clmLoss`. `onParts` receives the
 * CLM and fusion terms as numbers.
 */
export function batchLoss(
  model: CausalLM,
  batch: TrainingBatch,
  inputs: { ids: tf.Tensor; targetIds?: tf.Tensor; targetLogits?: tf.Tensor },
  settings: LossSettings,
  onParts: (clm: number, fusion: number) => void,
): tf.Scalar {
  const logits = model.forward(inputs.ids, { attentionMask: batch.attentionMask });
  const labels = batch.labels as number[][];
  if (inputs.targetIds === undefined || inputs.targetLogits === undefined) {
    const loss = clmLoss(logits, labels);
    return loss;
  }
  return combinedLoss(
    logits,
    { labels, targetIds: inputs.targetIds, targetLogits: inputs.targetLogits },
    {
      lambda: settings.lmLossWeight,
      temperature: 1,
      variant: settings.distillLossType,
      onParts: (parts) => onParts(parts.clm, parts.fusion),
    },
  );
}

/** Tensors of a batch's ids and targets (the caller disposes them). */
export function batchTensors(batch: TrainingBatch): {
  ids: tf.Tensor;
  targetIds?: tf.Tensor;
  targetLogits?: tf.Tensor;
} {
  const rows = batch.inputIds.length;
  const time = batch.inputIds[0]?.length ?? 0;
  const ids = tf.tensor2d(Int32Array.from(batch.inputIds.flat()), [rows, time], 'int32');
  if (batch.targets === undefined) return { ids };
  const shape = [...batch.targets.shape] as [number, number, number];
  return {
    ids,
    targetIds: tf.tensor3d(batch.targets.ids, shape, 'int32'),
    targetLogits: tf.tensor3d(batch.targets.logits, shape, 'float32'),
  };
}

/**
 * Gradients of one optimizer step over its micro-batches, normalised as transformers ≥ 4.46 does
 * (`num_items_in_batch`): each micro-batch's mean loss is weighted by its share of the supervised
 * positions of the whole step, `n_i / N`, so 4 micro-batches of 2 give the update of 1 batch of
 * 8. Gradients are summed on the device. `totalSupervisedPositions` is `N` when `batches` are
 * one replica's share of a data-parallel step (default: the positions of `batches`).
 */
export function accumulateGradients(
  model: CausalLM,
  variables: ReadonlyMap<string, tf.Variable>,
  batches: readonly TrainingBatch[],
  settings: LossSettings,
  totalSupervisedPositions?: number,
): AccumulatedGradients {
  const total =
    totalSupervisedPositions ?? batches.reduce((sum, batch) => sum + batch.supervisedPositions, 0);
  const list = [...variables.values()];
  const byVariable = new Map([...variables].map(([name, variable]) => [variable.name, name]));
  const gradients = new Map<string, tf.Tensor>();
  let loss = 0;
  let clm = 0;
  let fusion = Number.NaN;
  let tokens = 0;
  try {
    for (const batch of batches) {
      const share = total === 0 ? 0 : batch.supervisedPositions / total;
      const inputs = batchTensors(batch);
      let parts: [number, number] | undefined;
      try {
        const { value, grads } = tf.variableGrads(
          () =>
            tf.mul(
              batchLoss(model, batch, inputs, settings, (c, f) => {
                parts = [c, f];
              }),
              share,
            ) as tf.Scalar,
          list,
        );
        const scaled = value.dataSync()[0]!;
        value.dispose();
        for (const [variableName, gradient] of Object.entries(grads)) {
          const name = byVariable.get(variableName)!;
          const previous = gradients.get(name);
          if (previous === undefined) gradients.set(name, gradient);
          else {
            gradients.set(name, tf.add(previous, gradient));
            tf.dispose([previous, gradient]);
          }
        }
        loss += scaled;
        clm += parts === undefined ? scaled : share * parts[0];
        if (parts !== undefined) fusion = (Number.isNaN(fusion) ? 0 : fusion) + share * parts[1];
        tokens += batch.tokens;
      } finally {
        tf.dispose(Object.values(inputs));
      }
    }
  } catch (error) {
    tf.dispose([...gradients.values()]);
    throw error;
  }
  return { gradients, loss, clm, fusion, supervisedPositions: total, tokens };
}

/** `‖g‖₂` over all gradients (one scalar read), as `torch.nn.utils.clip_grad_norm_` computes it. */
export function globalNorm(gradients: ReadonlyMap<string, tf.Tensor>): number {
  const norm = tf.tidy(() => tf.sqrt(tf.addN([...gradients.values()].map((g) => tf.sum(tf.square(g))))));
  try {
    return norm.dataSync()[0]!;
  } finally {
    norm.dispose();
  }
}

/**
 * `clip_grad_norm_`: scales every gradient by `maxNorm / (norm + 1e-6)` when that is below 1.
 * Replaces (and disposes) the tensors in `gradients`.
 */
export function clipGradients(gradients: Map<string, tf.Tensor>, norm: number, maxNorm: number | null): void {
  if (maxNorm === null) return;
  const coefficient = maxNorm / (norm + 1e-6);
  if (!(coefficient < 1)) return;
  for (const [name, gradient] of gradients) {
    gradients.set(name, tf.mul(gradient, coefficient));
    gradient.dispose();
  }
}
