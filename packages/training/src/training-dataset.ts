import type { TrainingBatch } from './training-batch.js';

/**
 * The data of a training run, as deterministic batches with random access (so a resumed run
 * continues at exactly the batch it stopped at). Implementations: the fusion dataset over a pivot
 * store and aligned source stores, the plain CLM dataset over JSONL chat data, or a user's own.
 */
export interface TrainingDataset {
  /** Examples in the dataset. */
  readonly examples: number;
  /** Batches in one epoch (the same for every epoch). */
  readonly batchesPerEpoch: number;
  /** Whether batches carry fused teacher `targets` (fusion training) or not (plain CLM). */
  readonly hasTargets: boolean;
  /**
   * Identity of the data for checkpoints (hashes of the stores or data file and the batching
   * options): a resume with other data is refused.
   */
  readonly fingerprint: string;
  /**
   * Batch `index` (0-based) of epoch `epoch`: the same batch for the same `(epoch, index, seed)`
   * every time. Batches are shuffled per epoch with `seed`.
   */
  batch(epoch: number, index: number, seed: number): Promise<TrainingBatch>;
  /** Releases open stores or files. */
  close?(): Promise<void>;
}
