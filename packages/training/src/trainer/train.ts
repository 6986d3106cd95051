import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import {
  FuseChatError,
  type Logger,
  NumericalError,
  type ProgressCallback,
  silentLogger,
} from '@fusechat/core';
import { acquireOutputLock } from '@fusechat/core/node';
import { applyLora, type CausalLM, mergeLora, saveLoraAdapter, saveModel } from '@fusechat/model';
import * as tf from '@tensorflow/tfjs-core';
import type { EvaluationMetrics, TrainerState, TrainingCallback } from '../callbacks/training-callback.js';
import { listCheckpoints, readTrainerState } from '../checkpoint/list-checkpoints.js';
import { assertResumable, loadCheckpoint } from '../checkpoint/load-checkpoint.js';
import { removeDirectory, removeStaleTemporaries, saveCheckpoint } from '../checkpoint/save-checkpoint.js';
import type { LogWindow, TrainerCheckpointState } from '../checkpoint/trainer-checkpoint-state.js';
import { createAdamW } from '../optimizer/create-adamw.js';
import { GradientWorkerPool, resolveWorkerCount } from '../parallel/gradient-worker-pool.js';
import { renderLossCurve } from '../plots/render-loss-curve.js';
import { learningRateAt } from '../schedules/learning-rate-at.js';
import type { TrainingBatch } from '../training-batch.js';
import type { TrainingDataset } from '../training-dataset.js';
import type { TrainingOptions } from '../training-options.js';
import {
  type AccumulatedGradients,
  accumulateGradients,
  clipGradients,
  globalNorm,
  type LossSettings,
} from './accumulate-gradients.js';
import { evaluateDataset } from './evaluate-dataset.js';
import { appendMetricsRow, type MetricsRow, readMetricsRows, truncateMetrics } from './metrics-log.js';
import { modelIdentity } from './model-identity.js';
import { resolveTrainingPlan } from './resolve-training-plan.js';

/** Options of {@link train}. */
export interface TrainOptions {
  /** The model to fine-tune, changed in place (LoRA: adapters attached, merged at the end). */
  readonly model: CausalLM;
  readonly dataset: TrainingDataset;
  /** Held-out data: loss and perplexity every `evalSteps` steps and at the end. */
  readonly evalDataset?: TrainingDataset | undefined;
  readonly training: TrainingOptions;
  /** Checkpoints, `metrics.jsonl`, `loss.svg`, the final `model/` (and `adapter/` for LoRA). */
  readonly outputDir: string;
  /**
   * `auto` (default): continue from the latest complete checkpoint in `outputDir`, if any;
   * `never`: start over (existing checkpoints and metrics in `outputDir` are removed);
   * a path: continue from that checkpoint directory.
   */
  readonly resume?: 'auto' | 'never' | (string & {}) | undefined;
  readonly callbacks?: readonly TrainingCallback[] | undefined;
  /** `task: 'train'`, `unit: 'steps'`, detail with loss, lr and tokens/s. */
  readonly onProgress?: ProgressCallback | undefined;
  readonly logger?: Logger | undefined;
  /** Checked between steps: an abort ends training with `TRAIN_ABORTED` (checkpoints stay resumable). */
  readonly signal?: AbortSignal | undefined;
  /**
   * Data-parallel replicas computing each step's gradients, this thread included (default 1;
   * `auto`: the machine's cores, at most 8). Each extra replica is a worker thread with its own
   * copy of the model on a 1-thread backend, so run this thread's backend at 1 thread too
   * (`initBackend('wasm', { wasmThreads: 1 })`). Steps equal the 1-replica ones to float32
   * rounding. wasm and cpu backends, built-in architectures; needs `@fusechat/backend`.
   */
  readonly workers?: number | 'auto' | undefined;
}

/** What {@link train} did and where it wrote it. */
export interface TrainResult {
  /** Optimizer steps done in all (including those before a resume). */
  readonly steps: number;
  /** The checkpoint step this run continued from (undefined for a fresh run). */
  readonly resumedFrom: number | undefined;
  /** Epochs done, fractional. */
  readonly epochs: number;
  /** Objective of the last step (undefined when no step ran). */
  readonly finalLoss: number | undefined;
  readonly bestEvalLoss: number | undefined;
  /** Checkpoint directories left on disk (after `saveTotalLimit`), oldest first. */
  readonly checkpoints: readonly string[];
  /** The final model in HF layout (LoRA merged). */
  readonly modelDir: string;
  /** The final PEFT adapter (LoRA runs only). */
  readonly adapterDir: string | undefined;
  readonly metricsFile: string;
  readonly lossCurveFile: string | undefined;
  /** Wall time of this run. */
  readonly seconds: number;
  /** Real tokens per second of this run's steps. */
  readonly tokensPerSecond: number;
  /** Stopped before `totalSteps` by early stopping or a callback. */
  readonly stoppedEarly: boolean;
  /** Steps skipped for a non-finite loss or gradient (`nonFinite: 'skip'`). */
  readonly skippedSteps: number;
  /** Data-parallel replicas this run's steps ran on (1: this thread only). */
  readonly workers: number;
}

/** PEFT's default for Llama-family models. */
const DEFAULT_LORA_TARGETS = ['q_proj', 'v_proj'];

const EMPTY_WINDOW: LogWindow = { steps: 0, loss: 0, clm: 0, fusion: 0, tokens: 0, skipped: 0 };

/**
 * Fine-tunes `model` on `dataset`: the FuseChat objective `λ·CLM + (1 − λ)·fusion` when the
 * batches carry fused targets, plain CLM otherwise. AdamW (torch semantics, HF parameter
 * grouping), HF learning-rate schedules, gradient accumulation normalised by the supervised
 * positions of the whole step (transformers ≥ 4.46), global-norm clipping, full fine-tuning or
 * LoRA. Every `saveSteps` steps an atomic `checkpoint-<step>/`; a rerun resumes from the latest and
 * reproduces the uninterrupted loss trajectory exactly. A non-finite loss or gradient stops with
 * `TRAIN_NON_FINITE` naming the step (or skips it). Writes `metrics.jsonl` (a row per
 * `loggingSteps` steps and per evaluation), `loss.svg`, and the final model to `outputDir/model`.
 *
 * @example
 * ```ts
 * const result = await train({
 *   model, dataset, evalDataset, outputDir: 'out/train/qwen',
 *   training: { learningRate: 1e-4, maxSteps: 200, warmupRatio: 0.1, lrSchedulerType: 'cosine',
 *     gradientAccumulationSteps: 4, saveSteps: 50, saveTotalLimit: 2, evalSteps: 50 },
 *   onProgress: createProgressPrinter(),
 * });
 * console.log(result.finalLoss, result.modelDir);
 * ```
 */
export async function train(options: TrainOptions): Promise<TrainResult> {
  // One trainer per output directory: a second one would interleave checkpoints and metrics.
  const lock = await acquireOutputLock(resolve(options.outputDir));
  try {
    return await trainLocked(options);
  } finally {
    await lock.release();
  }
}

async function trainLocked(options: TrainOptions): Promise<TrainResult> {
  const started = performance.now();
  const { model, dataset, evalDataset, training } = options;
  const logger = options.logger ?? silentLogger;
  const callbacks = options.callbacks ?? [];
  const outputDir = resolve(options.outputDir);
  const plan = resolveTrainingPlan(training, dataset.batchesPerEpoch, {
    hasEvalDataset: evalDataset !== undefined,
  });
  const settings: LossSettings = { lmLossWeight: plan.lmLossWeight, distillLossType: plan.distillLossType };
  const metricsFile = join(outputDir, 'metrics.jsonl');
  await mkdir(outputDir, { recursive: true });
  await removeStaleTemporaries(outputDir);

  const workers = resolveWorkerCount(options.workers);
  // Refused before anything changes: the checkpoints, the metrics, the model.
  if (workers > 1) GradientWorkerPool.check(model);

  // Identity of the starting point, before anything changes the model.
  const identity = await modelIdentity(model);
  const resumeFrom = await findResumeCheckpoint(outputDir, options.resume ?? 'auto');
  if (options.resume === 'never') {
    for (const old of await listCheckpoints(outputDir)) await removeDirectory(outputDir, old.dir);
  }

  const lora: TrainerCheckpointState['lora'] =
    training.lora !== undefined
      ? {
          r: training.lora.r,
          alpha: training.lora.alpha,
          targetModules: [...new Set(training.lora.targetModules ?? DEFAULT_LORA_TARGETS)].sort(),
        }
      : adapterSettings(model);
  // Refuse a mismatched checkpoint before the model is changed in any way.
  if (resumeFrom !== undefined) {
    await assertResumable(resumeFrom, {
      datasetFingerprint: dataset.fingerprint,
      modelIdentity: identity,
      lora,
    });
  }
  let appliedLora = false;
  if (training.lora !== undefined) {
    applyLora(model, {
      rank: training.lora.r,
      alpha: training.lora.alpha,
      targetModules: training.lora.targetModules ?? DEFAULT_LORA_TARGETS,
      seed: plan.seed,
    });
    appliedLora = true;
  }
  const variables = model.namedTrainableVariables();
  const optimizer = createAdamW(variables, {
    beta1: plan.beta1,
    beta2: plan.beta2,
    epsilon: plan.epsilon,
    weightDecay: plan.weightDecay,
  });

  let step = 0;
  let resumedFrom: number | undefined;
  let bestEvalLoss: number | undefined;
  let evaluationsWithoutImprovement = 0;
  let window: LogWindow = EMPTY_WINDOW;
  let tokensSeen = 0;
  let lastLoss: number | undefined;
  let stoppedEarly = false;
  let skippedSteps = 0;
  let tokensThisRun = 0;
  let stepSecondsThisRun = 0;
  let pool: GradientWorkerPool | undefined;
  try {
    if (resumeFrom !== undefined) {
      const state = await loadCheckpoint(resumeFrom, {
        model,
        optimizer,
        expected: { datasetFingerprint: dataset.fingerprint, modelIdentity: identity, lora },
      });
      step = state.globalStep;
      resumedFrom = step;
      bestEvalLoss = state.bestEvalLoss ?? undefined;
      evaluationsWithoutImprovement = state.evaluationsWithoutImprovement;
      window = state.logWindow;
      tokensSeen = state.tokensSeen;
      if (state.totalSteps !== plan.totalSteps || state.rng.seed !== plan.seed) {
        logger.warn(
          'resuming with other step counts or seed than the checkpoint: the trajectory will differ',
          {
            checkpoint: resumeFrom,
            savedTotalSteps: state.totalSteps,
            totalSteps: plan.totalSteps,
            savedSeed: state.rng.seed,
            seed: plan.seed,
          },
        );
      }
      await truncateMetrics(metricsFile, step);
      logger.info(`resuming from ${resumeFrom} (step ${step}/${plan.totalSteps})`);
    } else {
      await writeFile(metricsFile, '');
    }

    const trainerState = (loss: number, learningRate: number, gradNorm: number): TrainerState => ({
      step,
      totalSteps: plan.totalSteps,
      epoch: step / plan.stepsPerEpoch,
      loss,
      learningRate,
      gradNorm,
      bestEvalLoss,
      model,
    });
    const checkpointState = (): TrainerCheckpointState => ({
      format: 'fusechat-trainer-state',
      version: 1,
      globalStep: step,
      epoch: step / plan.stepsPerEpoch,
      totalSteps: plan.totalSteps,
      cursor: cursorAt(step, plan.stepsPerEpoch, plan.accumulation),
      rng: { seed: plan.seed },
      datasetFingerprint: dataset.fingerprint,
      modelIdentity: identity,
      lora,
      bestEvalLoss: bestEvalLoss ?? null,
      evaluationsWithoutImprovement,
      logWindow: window,
      tokensSeen,
      trainingOptions: training,
    });
    const progress = (detail?: string) =>
      options.onProgress?.({ task: 'train', completed: step, total: plan.totalSteps, unit: 'steps', detail });
    progress();
    if (workers > 1 && step < plan.totalSteps) {
      // After the resume: the replicas start from the weights the steps continue from.
      pool = await GradientWorkerPool.start(model, settings, { workers });
      logger.info(`data-parallel: ${workers} replicas (this thread and ${workers - 1} worker threads)`);
    }
    let windowSeconds = 0;

    while (step < plan.totalSteps) {
      if (options.signal?.aborted) {
        throw new FuseChatError(
          'TRAIN_ABORTED',
          `Training was aborted before step ${step + 1}; rerun with resume to continue from the last checkpoint.`,
          { details: { step } },
        );
      }
      const stepStarted = performance.now();
      const batches = await stepBatches(dataset, step, plan.stepsPerEpoch, plan.accumulation, plan.seed);
      const learningRate = learningRateAt(step, {
        schedule: plan.schedule,
        peak: plan.learningRate,
        warmupSteps: plan.warmupSteps,
        totalSteps: plan.totalSteps,
      });
      let accumulated: AccumulatedGradients;
      let lossError: NumericalError | undefined;
      try {
        accumulated = pool
          ? await pool.accumulate(batches)
          : accumulateGradients(model, variables, batches, settings);
      } catch (error) {
        // The losses refuse non-finite inputs (e.g. NaN teacher logits): the same event as a NaN loss.
        if (!(error instanceof NumericalError)) throw error;
        lossError = error;
        accumulated = {
          gradients: new Map(),
          loss: Number.NaN,
          clm: Number.NaN,
          fusion: Number.NaN,
          supervisedPositions: 0,
          tokens: batches.reduce((sum, batch) => sum + batch.tokens, 0),
        };
      }
      let gradNorm = Number.NaN;
      let skipped = false;
      try {
        if (lossError === undefined) gradNorm = globalNorm(accumulated.gradients);
        if (!Number.isFinite(accumulated.loss) || !Number.isFinite(gradNorm)) {
          const what =
            lossError !== undefined
              ? `loss (${lossError.message})`
              : !Number.isFinite(accumulated.loss)
                ? `loss (${accumulated.loss})`
                : `gradient norm (${gradNorm})`;
          if (plan.nonFinite === 'stop') {
            const last = (await listCheckpoints(outputDir)).at(-1);
            throw new NumericalError(
              `Step ${step + 1} produced a non-finite ${what}; training stopped${
                last ? `, the last checkpoint ${last.dir} is intact` : ' (no checkpoint was written yet)'
              }. Lower the learning rate, check the data of epoch ${cursorAt(step, plan.stepsPerEpoch, plan.accumulation).epoch}, or set nonFinite: 'skip'.`,
              {
                code: 'TRAIN_NON_FINITE',
                details: { step: step + 1, loss: accumulated.loss, gradNorm, checkpoint: last?.dir },
              },
            );
          }
          skipped = true;
          logger.warn(`step ${step + 1}: non-finite ${what}, step skipped`);
        } else {
          clipGradients(accumulated.gradients, gradNorm, plan.maxGradNorm);
          optimizer.step(accumulated.gradients, learningRate);
        }
      } finally {
        tf.dispose([...accumulated.gradients.values()]);
      }
      step++;
      const seconds = (performance.now() - stepStarted) / 1000;
      windowSeconds += seconds;
      stepSecondsThisRun += seconds;
      tokensThisRun += accumulated.tokens;
      tokensSeen += accumulated.tokens;
      if (skipped) skippedSteps++;
      else lastLoss = accumulated.loss;
      window = skipped
        ? {
            ...window,
            steps: window.steps + 1,
            skipped: window.skipped + 1,
            tokens: window.tokens + accumulated.tokens,
          }
        : {
            steps: window.steps + 1,
            loss: window.loss + accumulated.loss,
            clm: window.clm + accumulated.clm,
            fusion: window.fusion + (Number.isNaN(accumulated.fusion) ? 0 : accumulated.fusion),
            tokens: window.tokens + accumulated.tokens,
            skipped: window.skipped,
          };
      const tokensPerSecond = window.tokens / Math.max(windowSeconds, 1e-9);
      if (step % plan.loggingSteps === 0 || step === plan.totalSteps) {
        const counted = window.steps - window.skipped;
        const row: Record<string, number | boolean | null> = {
          step,
          epoch: round(step / plan.stepsPerEpoch),
          loss: counted > 0 ? window.loss / counted : null,
          clm: counted > 0 ? window.clm / counted : null,
        };
        if (dataset.hasTargets) row.fusion = counted > 0 ? window.fusion / counted : null;
        row.lr = learningRate;
        row.grad_norm = gradNorm;
        row.tokens = window.tokens;
        if (window.skipped > 0) row.skipped_steps = window.skipped;
        row.tokens_per_second = tokensPerSecond;
        await appendMetricsRow(metricsFile, row as MetricsRow);
        window = EMPTY_WINDOW;
        windowSeconds = 0;
      }
      progress(
        `loss ${skipped ? 'skipped' : accumulated.loss.toFixed(4)} lr ${learningRate.toExponential(2)} ${formatRate(tokensPerSecond)} tok/s`,
      );

      const state = trainerState(skipped ? Number.NaN : accumulated.loss, learningRate, gradNorm);
      let stop = false;
      const evaluateNow =
        evalDataset !== undefined &&
        ((plan.evalSteps !== undefined && step % plan.evalSteps === 0) || step === plan.totalSteps);
      if (evaluateNow) {
        const metrics = await evaluateDataset(model, evalDataset, settings, plan.seed);
        const improved =
          bestEvalLoss === undefined ||
          (metrics.evalLoss < bestEvalLoss &&
            Math.abs(metrics.evalLoss - bestEvalLoss) > (plan.earlyStopping?.threshold ?? 0));
        if (improved) evaluationsWithoutImprovement = 0;
        else evaluationsWithoutImprovement++;
        if (bestEvalLoss === undefined || metrics.evalLoss < bestEvalLoss) bestEvalLoss = metrics.evalLoss;
        await appendMetricsRow(metricsFile, evaluationRow(step, plan.stepsPerEpoch, metrics));
        if (
          plan.earlyStopping !== undefined &&
          evaluationsWithoutImprovement >= plan.earlyStopping.patience
        ) {
          logger.info(
            `early stopping at step ${step}: no eval improvement in ${evaluationsWithoutImprovement} evaluations`,
          );
          stop = true;
        }
        stop =
          (await runCallbacks(callbacks, (callback) =>
            callback.onEvaluate?.({ ...state, bestEvalLoss }, metrics),
          )) || stop;
      }
      stop =
        (await runCallbacks(callbacks, (callback) => callback.onStepEnd?.({ ...state, bestEvalLoss }))) ||
        stop;
      const finished = step === plan.totalSteps || stop;
      if (plan.saveSteps !== undefined && (step % plan.saveSteps === 0 || finished)) {
        const dir = await saveCheckpoint({
          outputDir,
          model,
          optimizer,
          state: checkpointState(),
          saveTotalLimit: plan.saveTotalLimit,
        });
        stop =
          (await runCallbacks(callbacks, (callback) => callback.onSave?.({ ...state, bestEvalLoss }, dir))) ||
          stop;
      }
      if (stop && step < plan.totalSteps) {
        stoppedEarly = true;
        break;
      }
    }

    // The replicas' copies of the model are not needed for saving.
    const replicas = pool?.replicas ?? 1;
    await pool?.close();
    pool = undefined;
    const modelDir = join(outputDir, 'model');
    await replaceDirectory(outputDir, modelDir, (dir) => saveModel(model, dir));
    let adapterDir: string | undefined;
    if (model.adapters.size > 0) {
      adapterDir = join(outputDir, 'adapter');
      await replaceDirectory(outputDir, adapterDir, (dir) => saveLoraAdapter(model, dir));
    }
    const lossCurveFile = join(outputDir, 'loss.svg');
    let wroteCurve = true;
    try {
      await writeFile(lossCurveFile, await renderLossCurve(await readMetricsRows(metricsFile)));
    } catch (error) {
      wroteCurve = false;
      logger.warn(`could not draw ${lossCurveFile}: ${(error as Error).message}`);
    }
    if (appliedLora) mergeLora(model);
    return {
      steps: step,
      resumedFrom,
      epochs: step / plan.stepsPerEpoch,
      finalLoss: lastLoss,
      bestEvalLoss,
      checkpoints: (await listCheckpoints(outputDir)).map((entry) => entry.dir),
      modelDir,
      adapterDir,
      metricsFile,
      lossCurveFile: wroteCurve ? lossCurveFile : undefined,
      seconds: (performance.now() - started) / 1000,
      tokensPerSecond: tokensThisRun / Math.max(stepSecondsThisRun, 1e-9),
      stoppedEarly,
      skippedSteps,
      workers: replicas,
    };
  } finally {
    await pool?.close();
    optimizer.dispose();
  }
}

/** The micro-batches of optimizer step `step` (0-based): HF order, the last step of an epoch may be short. */
async function stepBatches(
  dataset: TrainingDataset,
  step: number,
  stepsPerEpoch: number,
  accumulation: number,
  seed: number,
): Promise<TrainingBatch[]> {
  const { epoch, batchIndex } = cursorAt(step, stepsPerEpoch, accumulation);
  const end = Math.min(dataset.batchesPerEpoch, batchIndex + accumulation);
  const batches: TrainingBatch[] = [];
  for (let index = batchIndex; index < end; index++) batches.push(await dataset.batch(epoch, index, seed));
  return batches;
}

/** The first micro-batch of optimizer step `step`. */
function cursorAt(step: number, stepsPerEpoch: number, accumulation: number) {
  return { epoch: Math.floor(step / stepsPerEpoch), batchIndex: (step % stepsPerEpoch) * accumulation };
}

function evaluationRow(step: number, stepsPerEpoch: number, metrics: EvaluationMetrics): MetricsRow {
  return {
    step,
    epoch: round(step / stepsPerEpoch),
    eval_loss: metrics.evalLoss,
    eval_clm: metrics.evalClm,
    eval_perplexity: metrics.evalPerplexity,
    eval_positions: metrics.evalPositions,
  };
}

async function runCallbacks(
  callbacks: readonly TrainingCallback[],
  call: (callback: TrainingCallback) => unknown,
): Promise<boolean> {
  let stop = false;
  for (const callback of callbacks) {
    const result = (await call(callback)) as { stop?: boolean } | undefined;
    if (result?.stop === true) stop = true;
  }
  return stop;
}

async function findResumeCheckpoint(outputDir: string, resume: string): Promise<string | undefined> {
  if (resume === 'never') return undefined;
  if (resume === 'auto') return (await listCheckpoints(outputDir)).at(-1)?.dir;
  const dir = resolve(resume);
  try {
    await readTrainerState(dir);
  } catch (error) {
    throw new FuseChatError(
      'TRAIN_CHECKPOINT_NOT_FOUND',
      `${dir} is not a complete training checkpoint (no readable trainer_state.json).`,
      {
        cause: error,
        details: { path: dir },
      },
    );
  }
  return dir;
}

/** LoRA settings of adapters the caller attached, or null. */
function adapterSettings(model: CausalLM): TrainerCheckpointState['lora'] {
  const adapters = [...model.adapters.values()];
  if (adapters.length === 0) return null;
  const rank = adapters[0]!.a.shape[0]!;
  return {
    r: rank,
    alpha: adapters[0]!.scale * rank,
    targetModules: [
      ...new Set(adapters.map((adapter) => adapter.module.slice(adapter.module.lastIndexOf('.') + 1))),
    ].sort(),
  };
}

/** Writes a directory through a temp name and swaps it in, so a reader never sees half of it. */
async function replaceDirectory(
  outputDir: string,
  dir: string,
  write: (temp: string) => Promise<void>,
): Promise<void> {
  const temp = join(outputDir, `.tmp-${dir.slice(outputDir.length + 1)}-${process.pid}`);
  await rm(temp, { recursive: true, force: true });
  await write(temp);
  await removeDirectory(outputDir, dir);
  await rename(temp, dir);
}

function round(value: number): number {
  return Math.round(value * 1e6) / 1e6;
}

function formatRate(rate: number): string {
  if (rate >= 1e6) return `${(rate / 1e6).toFixed(2)}M`;
  if (rate >= 1e3) return `${(rate / 1e3).toFixed(2)}k`;
  return rate.toFixed(0);
}
