import { InvalidInputError } from '@fusechat/core';
import {
  LEARNING_RATE_SCHEDULES,
  type LearningRateSchedule,
  warmupStepsFor,
} from '../schedules/learning-rate-at.js';
import type { TrainingOptions } from '../training-options.js';

/** {@link TrainingOptions} with every default applied and the step counts derived. */
/** Steps between checkpoints when `saveSteps` is not given (transformers' `save_steps`); the last step always saves. */
export const DEFAULT_SAVE_STEPS = 500;

export interface TrainingPlan {
  readonly learningRate: number;
  readonly schedule: LearningRateSchedule;
  readonly weightDecay: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  readonly accumulation: number;
  /** Optimizer steps per epoch: `ceil(batchesPerEpoch / accumulation)` (the last one may be short). */
  readonly stepsPerEpoch: number;
  readonly totalSteps: number;
  readonly warmupSteps: number;
  readonly maxGradNorm: number | null;
  readonly loggingSteps: number;
  readonly evalSteps: number | undefined;
  readonly saveSteps: number | undefined;
  readonly saveTotalLimit: number | undefined;
  readonly seed: number;
  readonly lmLossWeight: number;
  readonly distillLossType: 'ce' | 'kl';
  readonly nonFinite: 'stop' | 'skip';
  readonly earlyStopping: { readonly patience: number; readonly threshold: number } | undefined;
}

/**
 * Validates training options against a dataset of `batchesPerEpoch` micro-batches and applies
 * the defaults (HF's where it has one: lr schedule `linear`, clipping 1.0, 3 epochs, save every
 * 500 steps, seed 42; logging every step). Every problem is reported at once
 * (`TRAIN_INVALID_OPTIONS`, with `details.problems`).
 *
 * @example
 * ```ts
 * const plan = resolveTrainingPlan({ learningRate: 1e-4, maxSteps: 100, warmupRatio: 0.1 }, 40);
 * plan.warmupSteps; // 10
 * ```
 */
export function resolveTrainingPlan(
  training: TrainingOptions,
  batchesPerEpoch: number,
  options: { hasEvalDataset?: boolean } = {},
): TrainingPlan {
  const problems: string[] = [];
  const check = (ok: boolean, message: string) => {
    if (!ok) problems.push(message);
  };
  const positiveInteger = (value: number | undefined, field: string) =>
    check(
      value === undefined || (Number.isInteger(value) && value > 0),
      `${field} must be an integer ≥ 1, got ${value}`,
    );
  const learningRate = training.learningRate;
  check(
    Number.isFinite(learningRate) && learningRate >= 0,
    `learningRate must be a finite number ≥ 0, got ${learningRate}`,
  );
  const schedule = training.lrSchedulerType ?? 'linear';
  check(
    LEARNING_RATE_SCHEDULES.includes(schedule),
    `lrSchedulerType must be one of ${LEARNING_RATE_SCHEDULES.join(', ')}, got ${JSON.stringify(schedule)}`,
  );
  const accumulation = training.gradientAccumulationSteps ?? 1;
  positiveInteger(accumulation, 'gradientAccumulationSteps');
  positiveInteger(training.maxSteps, 'maxSteps');
  positiveInteger(training.loggingSteps, 'loggingSteps');
  positiveInteger(training.evalSteps, 'evalSteps');
  positiveInteger(training.saveSteps, 'saveSteps');
  positiveInteger(training.saveTotalLimit, 'saveTotalLimit');
  check(
    Number.isInteger(batchesPerEpoch) && batchesPerEpoch > 0,
    `the dataset has ${batchesPerEpoch} batches per epoch`,
  );
  const epochs = training.numTrainEpochs ?? 3;
  check(Number.isFinite(epochs) && epochs > 0, `numTrainEpochs must be > 0, got ${epochs}`);
  const weightDecay = training.weightDecay ?? 0;
  check(Number.isFinite(weightDecay) && weightDecay >= 0, `weightDecay must be ≥ 0, got ${weightDecay}`);
  const maxGradNorm = training.maxGradNorm === undefined ? 1 : training.maxGradNorm;
  check(
    maxGradNorm === null || (Number.isFinite(maxGradNorm) && maxGradNorm >= 0),
    `maxGradNorm must be ≥ 0 or null, got ${maxGradNorm}`,
  );
  const lmLossWeight = training.lmLossWeight ?? 0.9;
  check(lmLossWeight >= 0 && lmLossWeight <= 1, `lmLossWeight must be in [0, 1], got ${lmLossWeight}`);
  const ratio = training.warmupRatio ?? 0;
  check(ratio >= 0 && ratio <= 1, `warmupRatio must be in [0, 1], got ${ratio}`);
  check(
    training.warmupSteps === undefined ||
      (Number.isInteger(training.warmupSteps) && training.warmupSteps >= 0),
    `warmupSteps must be an integer ≥ 0, got ${training.warmupSteps}`,
  );
  const distillLossType = training.distillLossType ?? 'ce';
  check(
    distillLossType === 'ce' || distillLossType === 'kl',
    `distillLossType must be ce or kl, got ${distillLossType}`,
  );
  const nonFinite = training.nonFinite ?? 'stop';
  check(nonFinite === 'stop' || nonFinite === 'skip', `nonFinite must be stop or skip, got ${nonFinite}`);
  const early = training.earlyStopping;
  if (early !== undefined) {
    positiveInteger(early.patience, 'earlyStopping.patience');
    check(!(early.threshold! < 0), `earlyStopping.threshold must be ≥ 0, got ${early.threshold}`);
    check(options.hasEvalDataset === true, 'earlyStopping needs an evalDataset');
  }
  if (training.lora !== undefined) {
    positiveInteger(training.lora.r, 'lora.r');
    check(training.lora.alpha > 0, `lora.alpha must be > 0, got ${training.lora.alpha}`);
  }
  const stepsPerEpoch = Math.max(1, Math.ceil(batchesPerEpoch / accumulation));
  const totalSteps = training.maxSteps ?? Math.ceil(epochs * stepsPerEpoch);
  const warmupSteps = warmupStepsFor({ warmupSteps: training.warmupSteps, warmupRatio: ratio, totalSteps });
  check(
    warmupSteps <= totalSteps,
    `warmup (${warmupSteps} steps) is longer than the run (${totalSteps} steps)`,
  );
  if (problems.length > 0) {
    throw new InvalidInputError(`Invalid training options: ${problems.join('; ')}.`, {
      code: 'TRAIN_INVALID_OPTIONS',
      details: { problems },
    });
  }
  return {
    learningRate,
    schedule,
    weightDecay,
    beta1: training.adamBeta1 ?? 0.9,
    beta2: training.adamBeta2 ?? 0.999,
    epsilon: training.adamEpsilon ?? 1e-8,
    accumulation,
    stepsPerEpoch,
    totalSteps,
    warmupSteps,
    maxGradNorm: maxGradNorm === 0 ? null : maxGradNorm,
    loggingSteps: training.loggingSteps ?? 1,
    evalSteps: training.evalSteps,
    saveSteps: training.saveSteps ?? DEFAULT_SAVE_STEPS,
    saveTotalLimit: training.saveTotalLimit,
    seed: training.seed ?? 42,
    lmLossWeight,
    distillLossType,
    nonFinite,
    earlyStopping: early && { patience: early.patience, threshold: early.threshold ?? 0 },
  };
}
