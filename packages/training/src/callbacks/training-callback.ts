import type { CausalLM } from '@fusechat/model';

/** Where a training run is, as callbacks see it (read-only; a fresh object per call). */
export interface TrainerState {
  /** Optimizer steps done. */
  readonly step: number;
  readonly totalSteps: number;
  /** Epochs done, fractional (`step / stepsPerEpoch`, as HF reports it). */
  readonly epoch: number;
  /** Objective of the last step (NaN for a skipped non-finite step). */
  readonly loss: number;
  /** Learning rate the last step used. */
  readonly learningRate: number;
  /** Global gradient norm of the last step, before clipping. */
  readonly gradNorm: number;
  /** Lowest evaluation loss so far. */
  readonly bestEvalLoss: number | undefined;
  /** The model being trained (its variables are the live weights: do not dispose). */
  readonly model: CausalLM;
}

/** Evaluation metrics passed to {@link TrainingCallback.onEvaluate}. */
export interface EvaluationMetrics {
  /** The training objective on the evaluation data (token-weighted mean over its batches). */
  readonly evalLoss: number;
  /** The CLM term alone. */
  readonly evalClm: number;
  /** `exp(evalClm)`. */
  readonly evalPerplexity: number;
  /** Supervised positions evaluated. */
  readonly evalPositions: number;
}

/** What a callback may ask of the loop. */
export interface TrainingControl {
  /** Stop after this step (a checkpoint is written when saving is on; the final model is saved). */
  readonly stop?: boolean;
}

type CallbackResult = undefined | TrainingControl | Promise<undefined | TrainingControl>;

/**
 * Hooks into the training loop (the HF `TrainerCallback` idea, smaller). Every hook may be async
 * and may return `{ stop: true }` to end training after the current step.
 *
 * @example
 * ```ts
 * const stopBelow: TrainingCallback = {
 *   onStepEnd: (state) => ({ stop: state.loss < 0.5 }),
 *   onSave: (state, dir) => console.log(`step ${state.step} saved to ${dir}`),
 * };
 * await train({ model, dataset, training, outputDir, callbacks: [stopBelow] });
 * ```
 */
export interface TrainingCallback {
  /** After every optimizer step (after logging and evaluation, before a checkpoint). */
  onStepEnd?(state: TrainerState): CallbackResult | void | Promise<void>;
  /** After every evaluation. */
  onEvaluate?(state: TrainerState, metrics: EvaluationMetrics): CallbackResult | void | Promise<void>;
  /** After a checkpoint directory is complete (renamed into place). */
  onSave?(state: TrainerState, checkpointDir: string): CallbackResult | void | Promise<void>;
}
