import type { TrainingOptions } from '../training-options.js';

/** Sums of the logging window that is still open when a checkpoint is written. */
export interface LogWindow {
  readonly steps: number;
  readonly loss: number;
  readonly clm: number;
  readonly fusion: number;
  readonly tokens: number;
  readonly skipped: number;
}

/**
 * `trainer_state.json` of a checkpoint: everything besides the weights and the optimizer moments
 * that a resumed run needs to continue exactly where the saved one was.
 */
export interface TrainerCheckpointState {
  readonly format: 'fusechat-trainer-state';
  readonly version: 1;
  /** Optimizer steps done (HF `global_step`). */
  readonly globalStep: number;
  /** Epochs done, fractional. */
  readonly epoch: number;
  readonly totalSteps: number;
  /** The next micro-batch the loop reads: batch `batchIndex` of epoch `epoch`. */
  readonly cursor: { readonly epoch: number; readonly batchIndex: number };
  /**
   * Randomness of the run: the loop draws none of its own — the data order is a function of
   * `(seed, epoch)` and the LoRA init of `seed` — so the seed is the whole RNG state.
   */
  readonly rng: { readonly seed: number };
  readonly datasetFingerprint: string;
  /** SHA-256 of the starting model's config and weights (before any training). */
  readonly modelIdentity: string;
  /** LoRA settings of the adapters, or null for full fine-tuning. */
  readonly lora: {
    readonly r: number;
    readonly alpha: number;
    readonly targetModules: readonly string[];
  } | null;
  readonly bestEvalLoss: number | null;
  readonly evaluationsWithoutImprovement: number;
  readonly logWindow: LogWindow;
  /** Real tokens trained on so far. */
  readonly tokensSeen: number;
  readonly trainingOptions: TrainingOptions;
}
