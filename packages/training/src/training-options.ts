/**
 * Options of the training loop. Names follow Hugging Face `TrainingArguments` (camelCased) where
 * one exists and FuseChat's for fusion; `fusechat train` maps its YAML (snake_case, the HF names)
 * onto these.
 */
export interface TrainingOptions {
  /** Peak learning rate (HF default 5e-5). */
  readonly learningRate: number;
  /** Decoupled AdamW weight decay (HF default 0), never applied to biases and norm weights. */
  readonly weightDecay?: number | undefined;
  readonly adamBeta1?: number | undefined;
  readonly adamBeta2?: number | undefined;
  readonly adamEpsilon?: number | undefined;
  /** Optimizer steps; takes precedence over `numTrainEpochs`. */
  readonly maxSteps?: number | undefined;
  readonly numTrainEpochs?: number | undefined;
  /** Micro-batches per optimizer step (HF `gradient_accumulation_steps`, default 1). */
  readonly gradientAccumulationSteps?: number | undefined;
  /** Warmup as a share of the optimizer steps (`warmupSteps` wins when both are given). */
  readonly warmupRatio?: number | undefined;
  readonly warmupSteps?: number | undefined;
  /** HF `lr_scheduler_type`: `linear` (default), `cosine`, `constant`, `constant_with_warmup`. */
  readonly lrSchedulerType?: 'linear' | 'cosine' | 'constant' | 'constant_with_warmup' | undefined;
  /** Global-norm clipping (HF default 1.0; 0 or undefined-with-null turns it off). */
  readonly maxGradNorm?: number | null | undefined;
  readonly loggingSteps?: number | undefined;
  readonly evalSteps?: number | undefined;
  readonly saveSteps?: number | undefined;
  readonly saveTotalLimit?: number | undefined;
  readonly seed?: number | undefined;
  /** λ of `λ·CLM + (1−λ)·fusion` (FuseChat `lm_loss_weight`, default 0.9); ignored without targets. */
  readonly lmLossWeight?: number | undefined;
  /** FuseChat `distill_loss_type`: `ce` (default) or `kl`. */
  readonly distillLossType?: 'ce' | 'kl' | undefined;
  /** LoRA instead of full fine-tuning (the model package's adapters, saved in PEFT layout). */
  readonly lora?:
    | { readonly r: number; readonly alpha: number; readonly targetModules?: readonly string[] }
    | undefined;
  /** A non-finite loss or gradient: `stop` (default, clear error, last good checkpoint intact) or `skip` the step. */
  readonly nonFinite?: 'stop' | 'skip' | undefined;
  /** Stop when the eval loss has not improved by `threshold` for `patience` evaluations. */
  readonly earlyStopping?: { readonly patience: number; readonly threshold?: number } | undefined;
}
