import { InvalidInputError } from '@fusechat/core';

/** HF `lr_scheduler_type` values the loop implements. */
export type LearningRateSchedule = 'linear' | 'cosine' | 'constant' | 'constant_with_warmup';

/** The schedules {@link learningRateAt} knows, in the order they are documented. */
export const LEARNING_RATE_SCHEDULES: readonly LearningRateSchedule[] = [
  'linear',
  'cosine',
  'constant',
  'constant_with_warmup',
];

/** Parameters of {@link learningRateAt}. */
export interface LearningRateScheduleOptions {
  /** Default `linear` (HF's default). */
  readonly schedule?: LearningRateSchedule | undefined;
  /** The peak learning rate (HF `learning_rate`). */
  readonly peak: number;
  /** Linear warmup from 0 over this many optimizer steps (default 0). */
  readonly warmupSteps?: number | undefined;
  /** Optimizer steps of the whole run (the decay reaches 0 there). */
  readonly totalSteps: number;
}

/**
 * The learning rate of the optimizer step that follows `step` completed steps (`step` = 0 for
 * the first update), with the Hugging Face formulas of `get_linear_schedule_with_warmup`,
 * `get_cosine_schedule_with_warmup` (half a cosine), `get_constant_schedule` and
 * `get_constant_schedule_with_warmup`: `peak · λ(step)`, where during warmup
 * `λ = step / max(1, warmup)` — so with warmup the first update uses lr 0, exactly as the HF
 * Trainer's `LambdaLR` does. `constant` ignores the warmup, as HF's does.
 *
 * @example
 * ```ts
 * learningRateAt(0, { schedule: 'cosine', peak: 1e-4, warmupSteps: 10, totalSteps: 100 }); // 0
 * learningRateAt(10, { schedule: 'cosine', peak: 1e-4, warmupSteps: 10, totalSteps: 100 }); // 1e-4
 * learningRateAt(55, { schedule: 'cosine', peak: 1e-4, warmupSteps: 10, totalSteps: 100 }); // 5e-5
 * ```
 */
export function learningRateAt(step: number, options: LearningRateScheduleOptions): number {
  const schedule = options.schedule ?? 'linear';
  const warmup = options.warmupSteps ?? 0;
  const total = options.totalSteps;
  if (!LEARNING_RATE_SCHEDULES.includes(schedule)) {
    throw new InvalidInputError(
      `Unknown learning-rate schedule ${JSON.stringify(schedule)}; known: ${LEARNING_RATE_SCHEDULES.join(', ')}.`,
      { code: 'TRAIN_INVALID_OPTIONS', field: 'lrSchedulerType' },
    );
  }
  return options.peak * scheduleFactor(schedule, step, warmup, total);
}

function scheduleFactor(schedule: LearningRateSchedule, step: number, warmup: number, total: number): number {
  if (schedule === 'constant') return 1;
  if (step < warmup) return step / Math.max(1, warmup);
  switch (schedule) {
    case 'constant_with_warmup':
      return 1;
    case 'linear':
      return Math.max(0, (total - step) / Math.max(1, total - warmup));
    case 'cosine': {
      const progress = (step - warmup) / Math.max(1, total - warmup);
      return Math.max(0, 0.5 * (1 + Math.cos(Math.PI * 0.5 * 2 * progress)));
    }
  }
}

/**
 * Warmup steps as the HF Trainer derives them: `warmupSteps` when given (> 0), else
 * `ceil(totalSteps · warmupRatio)`.
 *
 * @example
 * ```ts
 * warmupStepsFor({ warmupRatio: 0.03, totalSteps: 1000 }); // 30
 * ```
 */
export function warmupStepsFor(options: {
  readonly warmupSteps?: number | undefined;
  readonly warmupRatio?: number | undefined;
  readonly totalSteps: number;
}): number {
  if (options.warmupSteps !== undefined && options.warmupSteps > 0) return options.warmupSteps;
  return Math.ceil(options.totalSteps * (options.warmupRatio ?? 0));
}
