import { createRandom, InvalidInputError } from '@fusechat/core';

/** How examples are cut into batches. */
export interface BatchingOptions {
  /** Most examples per batch (HF `per_device_train_batch_size`). Default 8 unless `batchTokens` is given. */
  readonly batchSize?: number | undefined;
  /**
   * Most padded tokens per batch (`examples × longest`): a batch is closed before it would exceed
   * this. An example longer than the budget gets a batch of its own.
   */
  readonly batchTokens?: number | undefined;
}

/** Padding of one epoch's batches. */
export interface PaddingStatistics {
  /** Real (unpadded) tokens. */
  readonly tokens: number;
  /** Σ over batches of `examples × longest example`. */
  readonly paddedTokens: number;
  /** `(paddedTokens − tokens) / tokens`: padding per real token (0 = none; 0 when there are no tokens). */
  readonly paddingWaste: number;
}

/** Batches over example indices, fixed for every epoch; only their order changes. */
export interface BatchPlan {
  /** Example indices of each batch, shortest batches first (the order before shuffling). */
  readonly batches: readonly (readonly number[])[];
  readonly padding: PaddingStatistics;
  /** Batch numbers in the order epoch `epoch` visits them: a permutation of the batches, seeded by `(seed, epoch)`. */
  order(epoch: number, seed: number): readonly number[];
  /**
   * Example indices of batch `index` of epoch `epoch` under `seed`.
   *
   * @throws InvalidInputError `TRAIN_INVALID_OPTIONS` for an index outside the epoch, a negative
   *   or fractional epoch, or a non-finite seed.
   */
  members(epoch: number, index: number, seed: number): readonly number[];
}

/** The default `batchSize` (HF `per_device_train_batch_size`). */
export const DEFAULT_BATCH_SIZE = 8;

/**
 * Length-bucketed batches: examples sorted by length (ties by index, so the plan is a pure
 * function of the lengths and options), cut greedily into batches of at most `batchSize`
 * examples and `batchTokens` padded tokens. Batches stay the same across epochs (so
 * `batchesPerEpoch` is fixed and a resumed run finds its cursor); their order is shuffled per
 * epoch with the seed. Similar lengths share a batch, so padding stays small.
 *
 * @throws InvalidInputError `TRAIN_INVALID_OPTIONS` for a `batchSize`/`batchTokens` that is not
 *   a positive integer, or no examples.
 * @example
 * ```ts
 * const plan = planBatches([5, 48, 7, 47], { batchSize: 2 });
 * plan.batches; // [[0, 2], [3, 1]]
 * plan.padding.paddingWaste; // (2·7 + 2·48 − 107) / 107 ≈ 0.028
 * plan.order(0, 42); // e.g. [1, 0]
 * ```
 */
export function planBatches(lengths: readonly number[], options: BatchingOptions = {}): BatchPlan {
  const batchTokens = positiveInteger(options.batchTokens, 'batchTokens');
  const batchSize =
    positiveInteger(options.batchSize, 'batchSize') ??
    (batchTokens === undefined ? DEFAULT_BATCH_SIZE : Number.POSITIVE_INFINITY);
  if (lengths.length === 0) {
    throw new InvalidInputError('there are no examples to train on (the data is empty).', {
      code: 'TRAIN_INVALID_OPTIONS',
      field: 'examples',
    });
  }
  const sorted = lengths.map((_, index) => index).sort((a, b) => lengths[a]! - lengths[b]! || a - b);
  const batches: number[][] = [];
  let current: number[] = [];
  for (const index of sorted) {
    // Sorted ascending: the example being added is the longest of the batch.
    const padded = (current.length + 1) * lengths[index]!;
    if (
      current.length > 0 &&
      (current.length >= batchSize || (batchTokens !== undefined && padded > batchTokens))
    ) {
      batches.push(current);
      current = [];
    }
    current.push(index);
  }
  batches.push(current);
  let tokens = 0;
  let paddedTokens = 0;
  for (const batch of batches) {
    let longest = 0;
    for (const index of batch) {
      tokens += lengths[index]!;
      longest = Math.max(longest, lengths[index]!);
    }
    paddedTokens += batch.length * longest;
  }
  const padding = { tokens, paddedTokens, paddingWaste: tokens === 0 ? 0 : (paddedTokens - tokens) / tokens };
  const order = (epoch: number, seed: number) =>
    createRandom(seed)
      .fork(`epoch:${epoch}`)
      .shuffle(batches.map((_, index) => index));
  return {
    batches,
    padding,
    order,
    members(epoch, index, seed) {
      if (!Number.isSafeInteger(epoch) || epoch < 0) {
        throw new InvalidInputError(`epoch must be an integer ≥ 0, got ${epoch}.`, {
          code: 'TRAIN_INVALID_OPTIONS',
          field: 'epoch',
        });
      }
      if (!Number.isSafeInteger(index) || index < 0 || index >= batches.length) {
        throw new InvalidInputError(`batch index ${index} is outside [0, ${batches.length}).`, {
          code: 'TRAIN_INVALID_OPTIONS',
          field: 'index',
        });
      }
      if (!Number.isFinite(seed)) {
        throw new InvalidInputError(`seed must be a finite number, got ${seed}.`, {
          code: 'TRAIN_INVALID_OPTIONS',
          field: 'seed',
        });
      }
      return batches[order(epoch, seed)[index]!]!;
    },
  };
}

function positiveInteger(value: number | undefined, field: string): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new InvalidInputError(`${field} must be an integer ≥ 1, got ${value}.`, {
      code: 'TRAIN_INVALID_OPTIONS',
      field,
    });
  }
  return value;
}
