import type { SparseDistributions } from '@fusechat/core';
import { packFusedTargetArrays } from '@fusechat/distillation-loss';
import type { TrainingBatch } from '../training-batch.js';

/** One example as the datasets hold it: tokens, label mask (1 = supervised) and, for fusion, its fused target. */
export interface CollateExample {
  readonly id: string;
  readonly inputIds: ArrayLike<number>;
  readonly labelMask: ArrayLike<number>;
  readonly targets?: SparseDistributions | undefined;
}

/**
 * Right-pads examples into a {@link TrainingBatch}: `labels[b][t] = inputIds[b][t]` where
 * `labelMask[b][t] = 1`, −100 elsewhere and on padding; targets packed `[batch, longest, k]`.
 */
export function collateBatch(examples: readonly CollateExample[], padId: number): TrainingBatch {
  const time = Math.max(...examples.map((example) => example.inputIds.length));
  const inputIds: number[][] = [];
  const attentionMask: number[][] = [];
  const labels: number[][] = [];
  let tokens = 0;
  let supervisedPositions = 0;
  for (const example of examples) {
    const length = example.inputIds.length;
    const ids = new Array<number>(time).fill(padId);
    const mask = new Array<number>(time).fill(0);
    const row = new Array<number>(time).fill(-100);
    for (let t = 0; t < length; t++) {
      ids[t] = example.inputIds[t]!;
      mask[t] = 1;
      if (example.labelMask[t] === 1) {
        row[t] = example.inputIds[t]!;
        if (t > 0) supervisedPositions++;
      }
    }
    tokens += length;
    inputIds.push(ids);
    attentionMask.push(mask);
    labels.push(row);
  }
  const withTargets = examples.filter((example) => example.targets !== undefined);
  const targets =
    withTargets.length === 0
      ? undefined
      : packFusedTargetArrays(
          examples.map((example) => example.targets!),
          { timeSteps: time },
        );
  return {
    exampleIds: examples.map((example) => example.id),
    inputIds,
    attentionMask,
    labels,
    targets,
    supervisedPositions,
    tokens,
    paddedTokens: examples.length * time,
  };
}
