import { readFile, statfs } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { type Logger, type ProgressCallback, silentLogger } from '@fusechat/core';
import { readModelConfig } from '@fusechat/model';
import { loadTokenizer } from '@fusechat/tokenizer-alignment';
import * as tf from '@tensorflow/tfjs-core';
import type { ResolvedPipelineConfig } from '../config/resolved-pipeline-config.js';
import type {
  AlignmentRecord,
  FusionRecord,
  MachineFacts,
  ModelRecord,
  PipelinePlanRecord,
  PipelineResults,
  StageRecord,
  TrainingCurve,
} from '../results/pipeline-results.js';
import { createFileHasher } from '../run-directory/hash-inputs.js';
import { openRunDirectory } from '../run-directory/open-run-directory.js';
import { CONTROL_NAME, MERGED_NAME, type RunLayout } from '../run-directory/run-layout.js';
import { writeJsonAtomic } from '../run-directory/write-json-atomic.js';
import { alignStage } from '../stages/align-stage.js';
import { captureStage } from '../stages/capture-stage.js';
import { type EvaluatedModel, evalStage } from '../stages/eval-stage.js';
import { mergeStage } from '../stages/merge-stage.js';
import { modelInputs, tokenizerDirOf } from '../stages/model-inputs.js';
import { type ReportHook, reportStage } from '../stages/report-stage.js';
import type { PipelineContext } from '../stages/stage-context.js';
import { type TrainStageSummary, trainStage } from '../stages/train-stage.js';

/** Options of {@link runPipeline}. */
export interface RunPipelineOptions {
  /** Stage lines (`[capture/pivot] running`, `[train/moby] 40 steps …`); default silent. */
  readonly log?: Logger | undefined;
  /** Progress of the running stage; the event's `task` is the stage id. */
  readonly onProgress?: ProgressCallback | undefined;
  /** Stops the running stage (capture and training stop at their next step and resume on a rerun). */
  readonly signal?: AbortSignal | undefined;
  /** The tensor backend as the results should name it (default `tf.getBackend()`). */
  readonly backendName?: string | undefined;
  /** Predicts the run before it starts (written as `plan.json` and `results.plan`); may refuse it by throwing. */
  readonly plan?: ((config: ResolvedPipelineConfig) => Promise<PipelinePlanRecord>) | undefined;
  /** Renders the report from the results (`report/index.html`); without it there is no report stage. */
  readonly report?: ReportHook | undefined;
  /**
   * Data-parallel replicas of every train stage, this thread included (`train({ workers })`;
   * default 1, `auto`: the cores). A runtime choice like the thread count: it changes no stage's
   * inputs, so a rerun with another count skips what is done. Run the backend at 1 thread with it.
   */
  readonly trainingWorkers?: number | 'auto' | undefined;
}

/**
 * Runs a pipeline in its run directory: capture of the pivot and every source, alignment of
 * every source onto the pivot, one target per source trained from the pivot (and the CLM-only
 * control), the merge of the targets (two sources or more), evaluation and samples, the
 * report — each stage with its `stage.json`, skipped when its inputs are unchanged, resumed when
 * an earlier attempt stopped, redone (with everything downstream of it) when an input changed.
 * Writes and returns `results.json`. A failing stage throws `PipelineStageError`
 * (`PIPELINE_STAGE_FAILED`, `stage` names it) and leaves every other stage's outputs as they
 * were; a run directory of another pipeline is refused (`PIPELINE_RUN_DIR_MISMATCH`).
 *
 * @example
 * ```ts
 * await initBackend('auto');
 * const config = await loadPipelineConfig('pipeline.yml');
 * const results = await runPipeline(config, { log: createConsoleLogger() });
 * results.evaluation.find((row) => row.model === 'merged');
 * ```
 */
export async function runPipeline(
  config: ResolvedPipelineConfig,
  options: RunPipelineOptions = {},
): Promise<PipelineResults> {
  const log = options.log ?? silentLogger;
  const startedAt = new Date().toISOString();
  const run = await openRunDirectory(config);
  const { layout } = run;
  const hasher = await createFileHasher(layout.hashCacheFile);
  const context: PipelineContext = {
    config,
    layout,
    hasher,
    log,
    onProgress: options.onProgress,
    signal: options.signal,
    trainingWorkers: options.trainingWorkers,
  };
  try {
    log.info(
      `[run] ${config.name}: pivot ${config.pivot.name}, ${config.sources.length} source(s) (${config.sources.map((source) => source.name).join(', ')}) → ${config.runDir}`,
    );
    let plan: PipelinePlanRecord | undefined;
    if (options.plan !== undefined) {
      plan = await options.plan(config);
      await writeJsonAtomic(layout.planFile, plan);
    }
    const stages: StageRecord[] = [];
    const pivotInputs = await modelInputs(hasher, config.pivot);
    const pivotModel = pivotInputs.model!;

    const captures: Record<string, string> = {};
    for (const model of [config.pivot, ...config.sources]) {
      const outcome = await captureStage(context, model);
      stages.push(outcome.record);
      captures[model.name] = outcome.hash;
    }
    const aligns: Record<string, string> = {};
    for (const source of config.sources) {
      const outcome = await alignStage(context, source, {
        pivotCapture: captures[config.pivot.name]!,
        sourceCapture: captures[source.name]!,
      });
      stages.push(outcome.record);
      aligns[source.name] = outcome.hash;
    }
    const trains: Record<string, string> = {};
    const trainSummaries: Record<string, TrainStageSummary> = {};
    for (const source of config.sources) {
      const outcome = await trainStage(context, source, {
        pivotModel,
        pivotCapture: captures[config.pivot.name]!,
        align: aligns[source.name]!,
      });
      stages.push(outcome.record);
      trains[source.name] = outcome.hash;
      trainSummaries[source.name] = outcome.summary;
    }
    if (config.training.control) {
      const outcome = await trainStage(context, undefined, {
        pivotModel,
        data: await hasher.hashFile(config.data.train),
        ...(pivotInputs.chatTemplate === undefined ? {} : { chatTemplate: pivotInputs.chatTemplate }),
      });
      stages.push(outcome.record);
      trains[CONTROL_NAME] = outcome.hash;
    }
    let merge: PipelineResults['merge'];
    let mergeHash: string | undefined;
    if (config.sources.length >= 2) {
      const { [CONTROL_NAME]: _control, ...targets } = trains;
      const outcome = await mergeStage(context, { pivotModel, targets });
      stages.push(outcome.record);
      merge = outcome.summary.record;
      mergeHash = outcome.hash;
    }

    const evaluated = await evaluatedModels(context, pivotModel, trains, mergeHash);
    const evaluation = await evalStage(context, evaluated);
    stages.push(evaluation.record);

    let results: PipelineResults = {
      formatVersion: 1,
      name: config.name,
      configHash: run.configHash,
      startedAt,
      finishedAt: new Date().toISOString(),
      machine: await machineFacts(config.runDir, options.backendName),
      stages,
      ...(plan === undefined ? {} : { plan }),
      models: await modelRecords(config, layout, mergeHash !== undefined),
      evaluation: evaluation.summary.rows,
      training: await trainingCurves(config, layout),
      fusion: config.sources.map(
        (source): FusionRecord => ({
          source: source.name,
          examples: trainSummaries[source.name]?.fusion?.examples ?? 0,
          sourceWins: trainSummaries[source.name]?.fusion?.sourceWins ?? 0,
        }),
      ),
      alignment: await alignmentRecords(config, layout),
      ...(merge === undefined ? {} : { merge }),
      samples: evaluation.summary.samples,
    };
    if (options.report !== undefined) {
      const upstream = {
        ...prefixed('capture', captures),
        ...prefixed('align', aligns),
        ...prefixed('train', trains),
      };
      if (mergeHash !== undefined) upstream.merge = mergeHash;
      upstream.eval = evaluation.hash;
      const outcome = await reportStage(context, results, upstream, options.report);
      results = { ...results, stages: [...stages, outcome.record], finishedAt: new Date().toISOString() };
    }
    await writeJsonAtomic(layout.resultsFile, results);
    const ran = results.stages.filter((stage) => !stage.reused).map((stage) => stage.id);
    log.info(
      `[run] done: ${ran.length} stage(s) ran${ran.length > 0 ? ` (${ran.join(', ')})` : ''}, ${results.stages.length - ran.length} up to date; results → ${layout.resultsFile}`,
    );
    return results;
  } finally {
    await hasher.save().catch(() => undefined);
    await run.release();
  }
}

function prefixed(prefix: string, hashes: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(hashes).map(([name, hash]) => [`${prefix}/${name}`, hash]));
}

/** Every model the eval stage scores, with its identity. */
async function evaluatedModels(
  context: PipelineContext,
  pivotModel: string,
  trains: Readonly<Record<string, string>>,
  mergeHash: string | undefined,
): Promise<EvaluatedModel[]> {
  const { config, layout, hasher } = context;
  const pivotTemplate = config.pivot.chatTemplate;
  const models: EvaluatedModel[] = [
    {
      name: config.pivot.name,
      role: 'pivot',
      modelDir: config.pivot.model,
      chatTemplate: pivotTemplate,
      hash: pivotModel,
    },
  ];
  for (const source of config.sources) {
    if (source.kind !== 'local') continue;
    models.push({
      name: source.name,
      role: 'source',
      modelDir: source.model,
      chatTemplate: source.chatTemplate,
      hash: (await modelInputs(hasher, source)).model!,
    });
  }
  for (const source of config.sources) {
    models.push({
      name: targetName(source.name),
      role: 'target',
      modelDir: layout.train[source.name]!.modelDir,
      chatTemplate: pivotTemplate,
      hash: trains[source.name]!,
    });
  }
  if (trains[CONTROL_NAME] !== undefined) {
    models.push({
      name: CONTROL_NAME,
      role: 'control',
      modelDir: layout.train[CONTROL_NAME]!.modelDir,
      chatTemplate: pivotTemplate,
      hash: trains[CONTROL_NAME],
    });
  }
  if (mergeHash !== undefined) {
    models.push({
      name: MERGED_NAME,
      role: 'merged',
      modelDir: layout.merge.modelDir,
      chatTemplate: pivotTemplate,
      hash: mergeHash,
    });
  }
  return models;
}

/** The name of the target trained from a source, in results (`target-<source>`). */
export function targetName(source: string): string {
  return `target-${source}`;
}

async function modelRecords(
  config: ResolvedPipelineConfig,
  layout: RunLayout,
  merged: boolean,
): Promise<ModelRecord[]> {
  const describe = async (
    name: string,
    role: ModelRecord['role'],
    modelDir: string | undefined,
    tokenizerDir: string,
    extra: Partial<ModelRecord> = {},
  ): Promise<ModelRecord> => {
    const tokenizer = await loadTokenizer(tokenizerDir);
    const modelConfig = modelDir === undefined ? undefined : (await readModelConfig(modelDir)).config;
    return {
      name,
      role,
      ...(modelDir === undefined ? {} : { path: modelDir }),
      ...(modelConfig === undefined ? {} : { modelType: modelConfig.modelType }),
      vocabSize: modelConfig?.vocabSize ?? tokenizer.vocabSize,
      spaceMarker: tokenizer.spaceMarker === 'byte-level' ? 'Ġ' : '▁',
      ...extra,
    };
  };
  const records: ModelRecord[] = [
    await describe(config.pivot.name, 'pivot', config.pivot.model, config.pivot.model),
  ];
  for (const source of config.sources) {
    records.push(
      await describe(
        source.name,
        'source',
        source.kind === 'local' ? source.model : undefined,
        tokenizerDirOf(source),
        source.kind === 'remote' ? { endpoint: source.endpoint } : {},
      ),
    );
  }
  for (const source of config.sources) {
    const dir = layout.train[source.name]!.modelDir;
    records.push(await describe(targetName(source.name), 'target', dir, dir, { source: source.name }));
  }
  if (config.training.control) {
    const dir = layout.train[CONTROL_NAME]!.modelDir;
    records.push(await describe(CONTROL_NAME, 'control', dir, dir));
  }
  if (merged)
    records.push(await describe(MERGED_NAME, 'merged', layout.merge.modelDir, layout.merge.modelDir));
  return records;
}

/** Loss curves from each trained model's `metrics.jsonl` (training rows; evaluation rows skipped). */
async function trainingCurves(config: ResolvedPipelineConfig, layout: RunLayout): Promise<TrainingCurve[]> {
  const curves: TrainingCurve[] = [];
  const read = async (file: string): Promise<TrainingCurve['rows']> => {
    const text = await readFile(file, 'utf8').catch(() => '');
    const rows: TrainingCurve['rows'][number][] = [];
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      const row = JSON.parse(line) as Record<string, number | null>;
      if (typeof row.loss !== 'number') continue;
      rows.push({
        step: row.step!,
        loss: row.loss,
        ...(typeof row.clm === 'number' ? { clm: row.clm } : {}),
        ...(typeof row.fusion === 'number' ? { fusion: row.fusion } : {}),
        ...(typeof row.lr === 'number' ? { learningRate: row.lr } : {}),
      });
    }
    return rows;
  };
  for (const source of config.sources) {
    curves.push({
      model: targetName(source.name),
      role: 'target',
      source: source.name,
      rows: await read(layout.train[source.name]!.metricsFile),
    });
  }
  if (config.training.control) {
    curves.push({
      model: CONTROL_NAME,
      role: 'control',
      rows: await read(layout.train[CONTROL_NAME]!.metricsFile),
    });
  }
  return curves;
}

async function alignmentRecords(
  config: ResolvedPipelineConfig,
  layout: RunLayout,
): Promise<AlignmentRecord[]> {
  const records: AlignmentRecord[] = [];
  for (const source of config.sources) {
    const text = await readFile(layout.align[source.name]!.alignmentRecord, 'utf8').catch(() => undefined);
    if (text !== undefined) records.push(JSON.parse(text) as AlignmentRecord);
  }
  return records;
}

async function machineFacts(runDir: string, backendName: string | undefined): Promise<MachineFacts> {
  const disk = await statfs(runDir).catch(() => undefined);
  return {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    totalMemoryBytes: totalmem(),
    ...(disk === undefined ? {} : { freeDiskBytes: disk.bavail * disk.bsize }),
    backend: backendName ?? tf.getBackend() ?? 'none',
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
  };
}
