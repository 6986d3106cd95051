import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { wasmHeapBytes } from '@fusechat/backend';
import { loadChatTemplate, readDataFile, renderChat, tokenizeExample } from '@fusechat/chat-data';
import { formatBytes, formatDuration, type Logger, silentLogger, type TokenizerLike } from '@fusechat/core';
import { type CaptureExample, planLengthBatches } from '@fusechat/distribution-capture';
import {
  defaultArchitectureRegistry,
  type ModelConfig,
  readModelConfig,
  TOKENIZER_FILES,
} from '@fusechat/model';
import { loadTokenizer } from '@fusechat/tokenizer-alignment';
import { DEFAULT_BATCH_SIZE, DEFAULT_SAVE_STEPS, planBatches, resolveWorkerCount } from '@fusechat/training';
import type { PipelinePlanRecord, StagePrediction } from '../results/pipeline-results.js';
import {
  type AlignCalibration,
  type CaptureCalibration,
  calibrateAlign,
  calibrateCapture,
  calibrateEvaluation,
  calibrateGeneration,
  calibrateMerge,
  calibrateRemoteCapture,
  calibrateTraining,
  directoryBytes,
  type GenerationCalibration,
  type MergeCalibration,
  safetensorsBytes,
  type TrainingCalibration,
} from './calibrate.js';
import { checkPlanFits, type PlanLimits, planShortfalls } from './check-plan-fits.js';
import { countDataTokens, type DataTokenCounts } from './count-data-tokens.js';
import { formatRate } from './format-plan.js';
import { type MachineResources, readMachineResources } from './machine-resources.js';
import type { HeapHistory } from './memory-model.js';
import {
  breakdown,
  captureMemory,
  evaluationMemory,
  type MemoryBreakdown,
  mergeMemory,
  modelParameters,
  trainingMemory,
  withRetainedHeap,
} from './memory-model.js';
import type { PlanShortfall } from './pipeline-plan-error.js';
import {
  isRemoteSource,
  type PlanInput,
  type PlanLocalModel,
  type PlanRemoteModel,
  type PlanSource,
} from './plan-input.js';
import { predictStoreBytes } from './store-size.js';

/** Options of {@link planPipeline}. */
export interface PlanPipelineOptions {
  /** Tokens of the data sample each local model captures for calibration (default 4096). */
  readonly sampleTokens?: number | undefined;
  /** Timed training steps per calibration, after one warm-up step (default 3). */
  readonly trainingSteps?: number | undefined;
  /** Throw `PIPELINE_PLAN_DOES_NOT_FIT` when a stage does not fit (default true). */
  readonly refuse?: boolean | undefined;
  /** The machine's limits (default: measured with `readMachineResources(input.runDir)`). */
  readonly resources?: MachineResources | undefined;
  /** Resident memory of the process before any stage (default: this process's RSS now). */
  readonly baselineBytes?: number | undefined;
  /**
   * The backend heap when planning started and after the calibrations (default on wasm: measured
   * with `wasmHeapBytes()`; elsewhere none, as other backends return freed memory).
   */
  readonly heap?: HeapHistory | undefined;
  /**
   * Time remote sources by capturing the sample from their servers, as the capture stage will
   * (default true; `false` leaves their capture and alignment time unpredicted, e.g. before the
   * servers are up).
   */
  readonly remoteCalibration?: boolean | undefined;
  /** Worker threads of the align stage (default: alignStore's, one per core). */
  readonly alignWorkers?: number | undefined;
  /** Data-parallel replicas of the train stages (`RunPipelineOptions.trainingWorkers`; default 1). */
  readonly trainingWorkers?: number | 'auto' | undefined;
  readonly logger?: Logger | undefined;
}

/** One stage's prediction with the parts its peak memory is made of. */
export interface PlannedStage extends StagePrediction {
  readonly memory: MemoryBreakdown;
}

/** What {@link planPipeline} predicts, plus how it measured the machine. */
export interface PipelinePlan extends PipelinePlanRecord {
  readonly stages: readonly PlannedStage[];
  readonly totals: { readonly seconds: number; readonly peakMemoryBytes: number; readonly diskBytes: number };
  readonly resources: MachineResources;
  readonly baselineBytes: number;
  /** Wall time of the planning itself (token counts and calibration). */
  readonly planningSeconds: number;
  /** Every stage that does not fit (empty when the plan fits). */
  readonly shortfalls: readonly PlanShortfall[];
  readonly fits: boolean;
}

const FLOAT_BYTES = 4;

interface PlannedModel {
  readonly name: string;
  readonly tokenizer: TokenizerLike;
  readonly chatTemplate: string | null;
  readonly maxLength: number | undefined;
  readonly tokenizerBytes: number;
  readonly counts: DataTokenCounts;
  readonly sample: readonly CaptureExample[];
  readonly local?: { readonly modelDir: string; readonly config: ModelConfig; readonly parameters: number };
  readonly remote?: PlanRemoteModel;
  calibration?: CaptureCalibration;
  /** Why a remote source's capture was not timed (no model name, calibration off, server unreachable). */
  untimed?: string;
}

/**
 * Predicts, before anything runs, every stage of a pipeline on this machine — capture of each
 * model, alignment and training per source, the CLM-only control, merge, evaluation and report:
 * disk bytes, peak memory and seconds, each with a one-line basis — and checks that the run fits
 * the free disk of the run directory's filesystem and the available memory.
 *
 * Token counts are exact (the data rendered and tokenised as capture does); store bytes per
 * token, forward and training throughput and merge speed are measured by short calibrations with
 * the same library calls the stages make (scratch files in a temp directory, removed at the
 * end); memory is arithmetic over the model shapes and the exact batch shapes. The tensor
 * backend must be initialised by the caller.
 *
 * @throws PipelinePlanError `PIPELINE_PLAN_DOES_NOT_FIT` naming every stage that does not fit
 *   and by how much (unless `refuse: false`; the plan then lists them in `shortfalls`).
 * @example
 * ```ts
 * await initBackend('auto');
 * const plan = await planPipeline(input, { refuse: false });
 * console.log(formatPlan(plan));
 * ```
 */
export async function planPipeline(
  input: PlanInput,
  options: PlanPipelineOptions = {},
): Promise<PipelinePlan> {
  const started = performance.now();
  const logger = options.logger ?? silentLogger;
  const baselineBytes = options.baselineBytes ?? process.memoryUsage().rss;
  const heapAtStart = options.heap === undefined ? wasmHeapBytes() : options.heap.atStart;
  const resources = options.resources ?? (await readMachineResources(input.runDir));
  const sampleTokens = options.sampleTokens ?? 4096;
  const k = input.capture.topK;
  const truncation = input.capture.truncation ?? 'keep-first';
  const workDir = await mkdtemp(join(tmpdir(), 'fusechat-plan-'));
  try {
    // 1. Exact token counts under every tokenizer, and one shared sample (the same ids for all models).
    const pivotSetup = await modelSetup(
      input.pivot.modelDir,
      input.capture.maxLength,
      input.pivot.chatTemplateFile,
    );
    const pivotCounts = await countDataTokens(input.data.train, {
      tokenizer: pivotSetup.tokenizer,
      chatTemplate: pivotSetup.chatTemplate ?? undefined,
      maxLength: pivotSetup.maxLength,
      truncation,
    });
    const sampleIndices = chooseSample(pivotCounts.lengths, sampleTokens);
    const models: PlannedModel[] = [];
    for (const model of [{ ...input.pivot, mapping: '' } as PlanSource, ...input.sources]) {
      const remote = isRemoteSource(model);
      const setup = remote
        ? await tokenizerSetup(model.tokenizerDir, input.capture.maxLength, model.chatTemplateFile)
        : models.length === 0
          ? pivotSetup
          : await modelSetup(
              (model as PlanLocalModel).modelDir,
              input.capture.maxLength,
              model.chatTemplateFile,
            );
      const counts =
        models.length === 0
          ? pivotCounts
          : await countDataTokens(input.data.train, {
              tokenizer: setup.tokenizer,
              chatTemplate: setup.chatTemplate ?? undefined,
              maxLength: setup.maxLength,
              truncation,
            });
      models.push({
        name: model.name,
        tokenizer: setup.tokenizer,
        chatTemplate: setup.chatTemplate,
        maxLength: setup.maxLength,
        tokenizerBytes: setup.tokenizerBytes,
        counts,
        sample: await selectExamples(input.data.train, sampleIndices, setup, truncation),
        ...(remote
          ? { remote: model }
          : {
              local: {
                modelDir: (model as PlanLocalModel).modelDir,
                config: setup.config!,
                parameters: modelParameters(setup.config!),
              },
            }),
      });
    }
    const pivot = models[0]!;
    const pivotLocal = pivot.local!;

    // 2. Calibrate capture (forward throughput, store bytes per token) with each local model.
    for (const model of models) {
      if (model.local === undefined) continue;
      logger.info(`plan: calibrating capture/${model.name} on ${model.sample.length} examples`);
      model.calibration = await calibrateCapture({
        modelDir: model.local.modelDir,
        tokenizer: model.tokenizer,
        chatTemplate: model.chatTemplate,
        data: input.data.train,
        sample: model.sample,
        k,
        maxLength: model.maxLength ?? model.local.config.maxPositionEmbeddings,
        truncation,
        batchTokens: input.capture.batchTokens,
        nextTokenLogProbs: input.capture.nextTokenLogProbs ?? true,
        workDir: join(workDir, 'capture', model.name),
      });
    }
    const pivotCalibration = pivot.calibration!;

    // ... and with each remote source's server, on the same sample.
    for (const model of models) {
      const remote = model.remote;
      if (remote === undefined) continue;
      if (options.remoteCalibration === false) {
        model.untimed = 'remote calibration off';
        continue;
      }
      if (remote.modelName === undefined) {
        model.untimed = 'no model_name to ask the server for';
        continue;
      }
      logger.info(
        `plan: calibrating capture/${model.name} on ${model.sample.length} examples from ${remote.endpoint}`,
      );
      try {
        model.calibration = await calibrateRemoteCapture({
          endpoint: remote.endpoint,
          modelName: remote.modelName,
          dialect: remote.dialect ?? 'vllm',
          apiKey: remote.apiKeyEnv === undefined ? undefined : process.env[remote.apiKeyEnv],
          concurrency: remote.concurrency,
          tokenizer: model.tokenizer,
          tokenizerDir: remote.tokenizerDir,
          chatTemplate: model.chatTemplate,
          data: input.data.train,
          sample: model.sample,
          k,
          maxLength: model.maxLength,
          truncation,
          nextTokenLogProbs: input.capture.nextTokenLogProbs ?? true,
          logger: silentLogger,
          workDir: join(workDir, 'capture', model.name),
        });
      } catch (error) {
        const reason = error instanceof Error ? error.message.split('\n')[0]! : String(error);
        model.untimed = `the server did not answer the calibration: ${reason}`;
        logger.warn(`plan: capture/${model.name} is not timed: ${reason}`);
      }
    }
    const stages: PlannedStage[] = [];

    // capture/<model>
    for (const model of models) {
      const calibration = model.calibration ?? pivotCalibration;
      const store = predictStoreBytes(calibration.store, model.counts);
      const tokensText = `${model.counts.tokens.toLocaleString('en-US')} tokens`;
      if (model.local === undefined) {
        const remote = model.remote!;
        // The stage holds the source's tokenizer; the server holds the model.
        const memory = onlyBaseline(baselineBytes, { buffers: model.tokenizerBytes });
        const timed = model.calibration !== undefined;
        stages.push({
          id: `capture/${model.name}`,
          kind: 'capture',
          seconds: timed
            ? calibration.loadSeconds +
              model.counts.seconds +
              model.counts.tokens / calibration.tokensPerSecond
            : 0,
          peakMemoryBytes: timed ? memory.total : baselineBytes,
          diskBytes: store.bytes,
          memory: timed ? memory : onlyBaseline(baselineBytes),
          basis: timed
            ? `measured ${formatRate(calibration.tokensPerSecond)} tokens/s from ${remote.endpoint} (concurrency ${remote.concurrency ?? 'default'}) × ${tokensText}; ${store.blockBytesPerToken.toFixed(1)} B/token measured store`
            : `time not predicted (remote ${remote.endpoint}: ${model.untimed ?? 'not calibrated'}); disk ${store.blockBytesPerToken.toFixed(1)} B/token (capture/${pivot.name}'s store) × ${tokensText}`,
        });
        continue;
      }
      const batchTokens = input.capture.batchTokens ?? 4096;
      const memory = worstOf(
        planLengthBatches(model.counts.lengths, { batchTokens }).map((batch) =>
          captureMemory(model.local!.config, {
            baselineBytes,
            parameters: model.local!.parameters,
            batch: { batch: batch.indices.length, time: batch.time },
            tokenizerBytes: model.tokenizerBytes,
          }),
        ),
      );
      const forwardSeconds = model.counts.tokens / calibration.tokensPerSecond;
      stages.push({
        id: `capture/${model.name}`,
        kind: 'capture',
        seconds: calibration.loadSeconds + model.counts.seconds + forwardSeconds,
        peakMemoryBytes: memory.total,
        diskBytes: store.bytes,
        memory,
        basis: `measured ${formatRate(calibration.tokensPerSecond)} tokens/s forward × ${tokensText}; ${store.blockBytesPerToken.toFixed(1)} B/token measured store`,
      });
    }

    // align/<source>
    const sources = models.slice(1);
    const alignments = new Map<string, AlignCalibration>();
    for (const [index, model] of sources.entries()) {
      const mapping = input.sources[index]!.mapping;
      if (model.calibration === undefined) {
        const store = predictStoreBytes(pivotCalibration.store, pivot.counts);
        stages.push({
          id: `align/${model.name}`,
          kind: 'align',
          seconds: 0,
          peakMemoryBytes: baselineBytes,
          diskBytes: store.bytes,
          memory: onlyBaseline(baselineBytes),
          basis: `not calibrated (remote source: ${model.untimed ?? 'no calibration store'}); disk ≤ capture/${pivot.name}'s bytes per token`,
        });
        continue;
      }
      logger.info(`plan: calibrating align/${model.name} (${mapping})`);
      const calibration = await calibrateAlign({
        pivotStoreDir: pivotCalibration.storeDir,
        sourceStoreDir: model.calibration.storeDir,
        pivotTokenizer: pivot.tokenizer,
        sourceTokenizer: model.tokenizer,
        mapping,
        workers: options.alignWorkers,
        workDir: join(workDir, 'align', model.name),
      });
      alignments.set(model.name, calibration);
      const store = predictStoreBytes(calibration.store, pivot.counts);
      const mapScale =
        mapping === 'statistics' ? pivot.counts.tokens / Math.max(1, pivotCalibration.sampleTokens) : 1;
      // The stage and every worker thread hold both tokenizers.
      const memory = onlyBaseline(baselineBytes, {
        buffers:
          (calibration.workers + 1) * (pivot.tokenizerBytes + model.tokenizerBytes) +
          calibration.workers * WORKER_BYTES,
      });
      stages.push({
        id: `align/${model.name}`,
        kind: 'align',
        seconds: calibration.mapSeconds * mapScale + pivot.counts.tokens / calibration.tokensPerSecond,
        peakMemoryBytes: memory.total,
        diskBytes: store.bytes + calibration.mapBytes + calibration.recordBytes,
        memory,
        basis: `measured map ${calibration.mapSeconds.toFixed(1)} s${mapScale === 1 ? '' : ` × ${mapScale.toFixed(1)}`} + ${formatRate(calibration.tokensPerSecond)} pivot tokens/s × ${pivot.counts.tokens.toLocaleString('en-US')}; ${store.blockBytesPerToken.toFixed(1)} B/token; viewer record ${formatBytes(calibration.recordBytes)}`,
      });
    }

    // train/<source>, train/control
    const training = input.training;
    const trainMaxLength = training.maxLength ?? pivot.maxLength;
    const trainLengths = pivot.counts.lengths.map((length) =>
      trainMaxLength === undefined ? length : Math.min(length, trainMaxLength),
    );
    const batchPlan = planBatches(trainLengths, {
      batchSize: training.batchSize ?? (training.batchTokens === undefined ? DEFAULT_BATCH_SIZE : undefined),
      batchTokens: training.batchTokens,
    });
    const accumulation = training.gradientAccumulationSteps ?? 1;
    const batchesPerEpoch = batchPlan.batches.length;
    const steps =
      training.maxSteps ?? Math.ceil(((training.numTrainEpochs ?? 3) * batchesPerEpoch) / accumulation);
    const microBatches = steps * accumulation;
    const meanPadded = batchPlan.padding.paddedTokens / batchesPerEpoch;
    const largestBatch = batchPlan.batches.reduce(
      (best, members) => {
        const time = Math.max(...members.map((index) => trainLengths[index]!));
        return members.length * time > best.batch * best.time ? { batch: members.length, time } : best;
      },
      { batch: 1, time: 1 },
    );
    const calibrationBatch = Math.min(training.batchSize ?? DEFAULT_BATCH_SIZE, pivot.counts.examples);
    const calibrationTime = Math.max(2, Math.round(meanPadded / calibrationBatch));
    const trainKinds = [
      ...sources.map((model) => ({ id: `train/${model.name}`, k })),
      ...(training.control ? [{ id: 'train/control', k: 0 }] : []),
    ];
    const trainingCalibrations = new Map<number, TrainingCalibration>();
    for (const kind of new Set(trainKinds.map((item) => item.k))) {
      logger.info(
        `plan: calibrating training (${calibrationBatch} × ${calibrationTime} tokens, k = ${kind})`,
      );
      trainingCalibrations.set(
        kind,
        await calibrateTraining({
          config: pivotLocal.config,
          batch: calibrationBatch,
          time: calibrationTime,
          k: kind,
          steps: options.trainingSteps,
          workers: options.trainingWorkers,
          workDir: join(workDir, 'train'),
        }),
      );
    }
    const sideBytes = await sideFileBytes(pivotLocal.modelDir);
    const modelBytes = pivotLocal.parameters * FLOAT_BYTES + sideBytes;
    // `train` saves every `saveSteps` steps and once more at the last step (keeping at most
    // `saveTotalLimit`): ⌈steps / saveSteps⌉ checkpoints.
    const saveSteps = training.saveSteps ?? DEFAULT_SAVE_STEPS;
    const checkpoints = Math.min(
      training.saveTotalLimit ?? Number.POSITIVE_INFINITY,
      Math.ceil(steps / saveSteps),
    );
    // A checkpoint: the model (F32) and optimizer.safetensors (both Adam moments, F32).
    const checkpointBytes = modelBytes + 2 * pivotLocal.parameters * FLOAT_BYTES;
    for (const item of trainKinds) {
      const calibration = trainingCalibrations.get(item.k)!;
      const secondsPerPaddedToken = calibration.secondsPerStep / (calibration.batch * calibration.time);
      const memory = trainingMemory(pivotLocal.config, {
        baselineBytes,
        parameters: pivotLocal.parameters,
        batch: largestBatch,
        k: item.k,
        workers: resolveWorkerCount(options.trainingWorkers),
        accumulation,
      });
      const stepSeconds = microBatches * meanPadded * secondsPerPaddedToken;
      stages.push({
        id: item.id,
        kind: 'train',
        seconds:
          // The calibration's finish saved the final model and one checkpoint.
          pivotCalibration.loadSeconds +
          stepSeconds +
          calibration.finishSeconds * Math.max(1, Math.ceil(steps / saveSteps)),
        peakMemoryBytes: memory.total,
        diskBytes: modelBytes + checkpoints * checkpointBytes + steps * METRICS_ROW_BYTES,
        memory,
        basis: `measured ${calibration.secondsPerStep.toFixed(2)} s/step at ${calibration.batch}×${calibration.time} → ${microBatches} batches × ${Math.round(meanPadded)} padded tokens; model ${formatBytes(modelBytes)}${checkpoints > 0 ? ` + ${checkpoints} checkpoint(s)` : ''}`,
      });
    }

    // merge
    const targets = sources.length;
    let mergeCalibration: MergeCalibration | undefined;
    if (input.merge !== undefined && targets > 0) {
      logger.info(`plan: calibrating merge (${input.merge.method})`);
      mergeCalibration = await calibrateMerge({
        pivotDir: pivotLocal.modelDir,
        models: targets,
        method: input.merge.method,
        dtype: input.merge.dtype,
        workDir: join(workDir, 'merge'),
      });
      const pivotWeights = await safetensorsBytes(pivotLocal.modelDir);
      const inputBytes = pivotWeights + targets * pivotLocal.parameters * FLOAT_BYTES;
      const bytesPerSecond = mergeCalibration.inputBytes / mergeCalibration.seconds;
      // The calibration merged with the same dtype settings (default: the pivot's dtype).
      const outputBytesPerParameter = mergeCalibration.outputWeightBytes / pivotLocal.parameters;
      const largestTensor = Math.max(
        ...defaultArchitectureRegistry
          .get(pivotLocal.config.modelType)
          .weightSpecs(pivotLocal.config)
          .map((spec) => spec.shape.reduce((a, b) => a * b, 1)),
      );
      const memory = mergeMemory({ baselineBytes, inputs: targets + 1, largestTensor });
      stages.push({
        id: 'merge',
        kind: 'merge',
        // Same tensors, same number of models: the calibration's time (reads of f32 targets vs the
        // pivot's dtype aside).
        seconds: mergeCalibration.seconds,
        peakMemoryBytes: memory.total,
        diskBytes:
          mergeCalibration.outputBytes -
          mergeCalibration.outputWeightBytes +
          pivotLocal.parameters * outputBytesPerParameter,
        memory,
        basis: `measured merge of the pivot's shape with ${targets} links (${input.merge.method}, ${formatBytes(bytesPerSecond)}/s; ${formatBytes(inputBytes)} in); ${targets + 1} buffers of ${formatBytes(largestTensor * 4)}`,
      });
    }

    // eval: every local model on every validation and test split (the pivot family with the
    // pivot's tokenizer), then the report's sample prompts completed greedily by each of them.
    const evalSplits = [...(input.data.validation ?? []), ...(input.data.test ?? [])];
    const family = [
      ...models.filter((model) => model.local !== undefined),
      ...trainKinds.map(() => pivot),
      ...(stages.some((stage) => stage.id === 'merge') ? [pivot] : []),
    ];
    const evalBatch = input.eval?.batchSize ?? 8;
    const evaluationRates = new Map<string, number>();
    let scoringSeconds = 0;
    let evalTokens = 0;
    let evalMemory = onlyBaseline(baselineBytes);
    for (const split of evalSplits) {
      const countsByModel = new Map<string, DataTokenCounts>();
      for (const model of family) {
        let counts = countsByModel.get(model.name);
        if (counts === undefined) {
          counts = await countDataTokens(split.path, {
            tokenizer: model.tokenizer,
            chatTemplate: model.chatTemplate ?? undefined,
            maxLength: input.eval?.maxLength ?? Math.min(model.local!.config.maxPositionEmbeddings, 2048),
            truncation: 'keep-first',
          });
          countsByModel.set(model.name, counts);
        }
        // One calibration per model (on the first split it scores): tokens/s hardly depend on the text.
        const key = model.name;
        let rate = evaluationRates.get(key);
        if (rate === undefined) {
          rate = (
            await calibrateEvaluation(model.local!.config, {
              dataFile: split.path,
              tokenizer: model.tokenizer,
              chatTemplate: model.chatTemplate ?? undefined,
              batchSize: evalBatch,
              maxLength: input.eval?.maxLength ?? Math.min(model.local!.config.maxPositionEmbeddings, 2048),
              workDir: join(workDir, 'eval', model.name),
            })
          ).tokensPerSecond;
          evaluationRates.set(key, rate);
        }
        scoringSeconds += counts.seconds + counts.tokens / rate;
        evalTokens += counts.tokens;
        const longest = Math.max(1, ...counts.lengths);
        const memory = evaluationMemory(model.local!.config, {
          baselineBytes,
          parameters: model.local!.parameters,
          batch: { batch: Math.min(evalBatch, counts.examples), time: longest },
        });
        if (memory.total > evalMemory.total) evalMemory = memory;
      }
    }
    const samples = input.report?.samples;
    const prompts = samples?.prompts ?? [];
    let generationSeconds = 0;
    const generations = new Map<string, GenerationCalibration>();
    if (samples !== undefined && prompts.length > 0) {
      for (const model of family) {
        let calibration = generations.get(model.name);
        if (calibration === undefined) {
          const promptTokens = Math.round(
            prompts.reduce((sum, prompt) => sum + promptLength(model, prompt), 0) / prompts.length,
          );
          logger.info(`plan: calibrating generation of ${model.name} (${promptTokens}-token prompts)`);
          calibration = await calibrateGeneration(model.local!.config, 8, promptTokens);
          generations.set(model.name, calibration);
        }
        generationSeconds +=
          prompts.length *
          (calibration.prefillSeconds + Math.max(0, samples.maxNewTokens - 1) * calibration.secondsPerToken);
      }
    }
    const loadSeconds =
      evalSplits.length > 0 || generationSeconds > 0
        ? family.reduce((sum, model) => sum + model.calibration!.loadSeconds, 0)
        : 0;
    stages.push({
      id: 'eval',
      kind: 'eval',
      seconds: scoringSeconds + generationSeconds + loadSeconds,
      peakMemoryBytes: evalMemory.total,
      diskBytes: EVALUATION_ROW_BYTES * family.length * Math.max(1, evalSplits.length),
      memory: evalMemory,
      basis: [
        evalSplits.length === 0
          ? 'no validation or test data'
          : `measured evaluateDataset tokens/s per model and split × ${evalTokens.toLocaleString('en-US')} tokens (${family.length} models × ${evalSplits.length} splits)`,
        ...(generationSeconds > 0
          ? [
              `${prompts.length} sample prompts × ${samples!.maxNewTokens} tokens × ${family.length} models at measured prefill + s/token (${formatDuration(generationSeconds)})`,
            ]
          : []),
      ].join('; '),
    });

    // report: the HTML page (plots, tables, the alignment viewer) from what the stages wrote.
    const reportMemory = onlyBaseline(baselineBytes);
    stages.push({
      id: 'report',
      kind: 'report',
      seconds: REPORT_SECONDS,
      peakMemoryBytes: reportMemory.total,
      diskBytes: REPORT_BYTES,
      memory: reportMemory,
      basis: `page ≈ ${formatBytes(REPORT_BYTES)}, ≈ ${REPORT_SECONDS} s (estimates)`,
    });

    // On a heap that never shrinks (wasm) every stage also holds what the calibrations and the
    // stages before it grew.
    const heapAfterPlanning = options.heap === undefined ? wasmHeapBytes() : options.heap.afterPlanning;
    if (heapAtStart !== undefined && heapAfterPlanning !== undefined) {
      const carried = withRetainedHeap(stages, { atStart: heapAtStart, afterPlanning: heapAfterPlanning });
      stages.splice(0, stages.length, ...carried);
    }
    const existingDiskBytes: Record<string, number> = {};
    for (const stage of stages)
      existingDiskBytes[stage.id] = await directoryBytes(join(input.runDir, stage.id));
    const limits: PlanLimits = {
      freeDiskBytes: resources.freeDiskBytes,
      memoryBytes: resources.availableMemoryBytes + baselineBytes,
      existingDiskBytes,
    };
    const shortfalls = planShortfalls(stages, limits);
    const plan: PipelinePlan = {
      createdAt: new Date().toISOString(),
      stages,
      totals: {
        seconds: stages.reduce((sum, stage) => sum + stage.seconds, 0),
        peakMemoryBytes: Math.max(...stages.map((stage) => stage.peakMemoryBytes)),
        diskBytes: stages.reduce((sum, stage) => sum + stage.diskBytes, 0),
      },
      resources,
      baselineBytes,
      planningSeconds: (performance.now() - started) / 1000,
      shortfalls,
      fits: shortfalls.length === 0,
    };
    if (options.refuse ?? true) checkPlanFits(stages, limits);
    return plan;
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

/** The part of a plan that `plan.json` stores (and `PipelineResults.plan` carries). */
export function planRecord(plan: PipelinePlan): PipelinePlanRecord {
  return {
    createdAt: plan.createdAt,
    stages: plan.stages.map(({ id, kind, seconds, peakMemoryBytes, diskBytes, basis }) => ({
      id,
      kind,
      seconds,
      peakMemoryBytes,
      diskBytes,
      basis,
    })),
  };
}

/** A worker thread's isolate and its block buffers (estimate). */
const WORKER_BYTES = 16 * 1024 ** 2;
/** One `metrics.jsonl` row. */
const METRICS_ROW_BYTES = 160;
/** One row of `evaluation.json`. */
const EVALUATION_ROW_BYTES = 256;
/** The HTML report with inline plots and alignment samples (estimate). */
const REPORT_BYTES = 512 * 1024;
/** Rendering the report: its plots and the alignment viewer's tokenisations (estimate). */
const REPORT_SECONDS = 1;

/** Tokens of `prompt` rendered as one user turn with the model's chat template and a generation prompt. */
function promptLength(model: PlannedModel, prompt: string): number {
  const { text } = renderChat([{ role: 'user', content: prompt }], {
    tokenizer: model.tokenizer,
    chatTemplate: model.chatTemplate ?? undefined,
    addGenerationPrompt: true,
    where: 'report.samples',
  });
  return model.tokenizer.encode(text, { addSpecialTokens: false }).length;
}

function onlyBaseline(baselineBytes: number, extra: Partial<MemoryBreakdown> = {}): MemoryBreakdown {
  return breakdown({
    baseline: baselineBytes,
    weights: extra.weights ?? 0,
    gradients: 0,
    optimizer: 0,
    activations: 0,
    logits: 0,
    buffers: extra.buffers ?? 0,
  });
}

function worstOf(items: readonly MemoryBreakdown[]): MemoryBreakdown {
  return items.reduce((best, item) => (item.total > best.total ? item : best));
}

interface Setup {
  readonly tokenizer: TokenizerLike;
  readonly chatTemplate: string | null;
  readonly maxLength: number | undefined;
  /** RSS growth when the tokenizer was loaded (every process that loads it pays it). */
  readonly tokenizerBytes: number;
  readonly config?: ModelConfig;
}

async function modelSetup(
  modelDir: string,
  maxLength: number | undefined,
  chatTemplateFile: string | undefined,
): Promise<Setup> {
  const { config } = await readModelConfig(modelDir);
  const before = process.memoryUsage.rss();
  const tokenizer = await loadTokenizer(modelDir);
  return {
    tokenizer,
    tokenizerBytes: Math.max(0, process.memoryUsage.rss() - before),
    chatTemplate:
      chatTemplateFile === undefined
        ? (tokenizer.chatTemplate ?? null)
        : await loadChatTemplate(chatTemplateFile),
    maxLength: maxLength ?? config.maxPositionEmbeddings,
    config,
  };
}

async function tokenizerSetup(
  dir: string,
  maxLength: number | undefined,
  chatTemplateFile: string | undefined,
): Promise<Setup> {
  const before = process.memoryUsage.rss();
  const tokenizer = await loadTokenizer(dir);
  return {
    tokenizer,
    tokenizerBytes: Math.max(0, process.memoryUsage.rss() - before),
    chatTemplate:
      chatTemplateFile === undefined
        ? (tokenizer.chatTemplate ?? null)
        : await loadChatTemplate(chatTemplateFile),
    maxLength,
  };
}

/** Every `stride`-th example, so the sample has about `budget` tokens and spans the whole file. */
export function chooseSample(lengths: readonly number[], budget: number): ReadonlySet<number> {
  const total = lengths.reduce((a, b) => a + b, 0);
  const stride = Math.max(1, Math.floor(total / Math.max(1, budget)));
  const chosen = new Set<number>();
  for (let index = 0; index < lengths.length; index += stride) chosen.add(index);
  return chosen;
}

async function selectExamples(
  data: string,
  indices: ReadonlySet<number>,
  setup: Setup,
  truncation: PlanInput['capture']['truncation'],
): Promise<CaptureExample[]> {
  const selected: CaptureExample[] = [];
  let index = 0;
  for await (const example of readDataFile(data)) {
    if (indices.has(index++)) {
      const result = tokenizeExample(example, {
        tokenizer: setup.tokenizer,
        chatTemplate: setup.chatTemplate ?? undefined,
        maxLength: setup.maxLength,
        truncation: truncation ?? 'keep-first',
      });
      selected.push({ id: result.id, inputIds: result.inputIds, labelMask: result.labelMask });
    }
  }
  return selected;
}

/** Bytes of the files `saveModel` copies beside the weights (config, tokenizer, generation config). */
async function sideFileBytes(modelDir: string): Promise<number> {
  let bytes = 0;
  for (const name of ['config.json', 'generation_config.json', ...TOKENIZER_FILES]) {
    bytes += await stat(join(modelDir, name)).then(
      (info) => info.size,
      () => 0,
    );
  }
  return bytes;
}
