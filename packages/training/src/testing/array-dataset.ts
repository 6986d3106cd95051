import { createHash } from 'node:crypto';
import { createRandom, InvalidInputError } from '@fusechat/core';
import type { TrainingBatch } from '../training-batch.js';
import type { TrainingDataset } from '../training-dataset.js';

/** One example of {@link createArrayDataset}. */
export interface ArrayExample {
  readonly inputIds: readonly number[];
  /** `transformers` labels (−100 = not supervised); default: the input ids. */
  readonly labels?: readonly number[];
  /** Per-position teacher targets (each row the same `k`; −1 = empty slot), already tempered. */
  readonly targets?: {
    readonly ids: readonly (readonly number[])[];
    readonly logits: readonly (readonly number[])[];
  };
}

/** Options of {@link createArrayDataset}. */
export interface ArrayDatasetOptions {
  readonly batchSize: number;
  /** Shuffle the example order per epoch with the seed (default true). */
  readonly shuffle?: boolean;
  /** Id of padding tokens (default 0; padding is masked everywhere). */
  readonly padId?: number;
}

/**
 * An in-memory {@link TrainingDataset} for tests and small experiments: per epoch the example
 * order is shuffled with `(seed, epoch)` and cut into batches of `batchSize`, so for a fixed seed
 * a batch size of 8 and four batches of 2 cover the same examples in the same order.
 *
 * @example
 * ```ts
 * const dataset = createArrayDataset([{ inputIds: [5, 6, 7], labels: [-100, 6, 7] }], { batchSize: 1 });
 * const batch = await dataset.batch(0, 0, 42);
 * batch.supervisedPositions; // 2
 * ```
 */
export function createArrayDataset(
  examples: readonly ArrayExample[],
  options: ArrayDatasetOptions,
): TrainingDataset {
  const { batchSize } = options;
  if (!Number.isInteger(batchSize) || batchSize < 1 || examples.length === 0) {
    throw new InvalidInputError('createArrayDataset needs examples and an integer batchSize ≥ 1.', {
      code: 'TRAIN_INVALID_OPTIONS',
      field: 'batchSize',
    });
  }
  const shuffle = options.shuffle ?? true;
  const padId = options.padId ?? 0;
  const hasTargets = examples[0]!.targets !== undefined;
  const k = hasTargets ? examples[0]!.targets!.ids[0]!.length : 0;
  const batchesPerEpoch = Math.ceil(examples.length / batchSize);
  const fingerprint = createHash('sha256')
    .update(JSON.stringify({ examples, batchSize, shuffle, padId }))
    .digest('hex');
  const order = (epoch: number, seed: number) => {
    const indices = examples.map((_, index) => index);
    return shuffle ? createRandom(seed).fork(`epoch:${epoch}`).shuffle(indices) : indices;
  };
  return {
    examples: examples.length,
    batchesPerEpoch,
    hasTargets,
    fingerprint,
    async batch(epoch, index, seed) {
      if (!Number.isInteger(index) || index < 0 || index >= batchesPerEpoch) {
        throw new InvalidInputError(`batch index ${index} is outside [0, ${batchesPerEpoch}).`, {
          code: 'TRAIN_INVALID_OPTIONS',
          field: 'index',
        });
      }
      const chosen = order(epoch, seed)
        .slice(index * batchSize, (index + 1) * batchSize)
        .map((i) => examples[i]!);
      const time = Math.max(...chosen.map((example) => example.inputIds.length));
      const pad = <T>(row: readonly T[], fill: T) => [...row, ...Array<T>(time - row.length).fill(fill)];
      const labels = chosen.map((example) => pad(example.labels ?? example.inputIds, -100));
      let supervisedPositions = 0;
      for (const row of labels)
        for (let t = 1; t < row.length; t++) if (row[t] !== -100) supervisedPositions++;
      const tokens = chosen.reduce((sum, example) => sum + example.inputIds.length, 0);
      let targets: TrainingBatch['targets'];
      if (hasTargets) {
        const ids = new Int32Array(chosen.length * time * k).fill(-1);
        const logits = new Float32Array(chosen.length * time * k);
        chosen.forEach((example, b) => {
          example.targets!.ids.forEach((row, t) => {
            row.forEach((id, slot) => {
              ids[(b * time + t) * k + slot] = id;
              logits[(b * time + t) * k + slot] = id === -1 ? 0 : example.targets!.logits[t]![slot]!;
            });
          });
        });
        targets = { shape: [chosen.length, time, k], ids, logits };
      }
      return {
        exampleIds: chosen.map((example) => String(examples.indexOf(example))),
        inputIds: chosen.map((example) => pad(example.inputIds, padId)),
        attentionMask: chosen.map((example) =>
          pad(
            example.inputIds.map(() => 1),
            0,
          ),
        ),
        labels,
        targets,
        supervisedPositions,
        tokens,
        paddedTokens: chosen.length * time,
      };
    },
  };
}
