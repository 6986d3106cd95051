import { join } from 'node:path';
import type { ResolvedPipelineConfig } from '../config/resolved-pipeline-config.js';

/** Name of every stage's manifest file inside its directory. */
export const STAGE_FILE = 'stage.json';
/** The trained model CLM-only control's name under `train/`. */
export const CONTROL_NAME = 'control';
/** The merged model's name in results and samples. */
export const MERGED_NAME = 'merged';

export interface CaptureLayout {
  readonly id: string;
  readonly dir: string;
  readonly stageFile: string;
  /** The distribution store. */
  readonly store: string;
}

export interface AlignLayout {
  readonly id: string;
  readonly dir: string;
  readonly stageFile: string;
  /** The aligned store (the source re-indexed onto the pivot's positions and ids). */
  readonly store: string;
  /** The vocabulary map the aligned store was made with (a copy of the one inside the store). */
  readonly vocabularyMap: string;
  /** The alignment viewer's record (`AlignmentRecord` JSON). */
  readonly alignmentRecord: string;
}

export interface TrainLayout {
  readonly id: string;
  readonly dir: string;
  readonly stageFile: string;
  /** `train`'s output_dir: checkpoint-<step>/, metrics.jsonl, loss.svg, model/. */
  readonly outputDir: string;
  /** The final model (with the pivot's tokenizer files). */
  readonly modelDir: string;
  readonly metricsFile: string;
  readonly lossCurve: string;
}

/** Everything the alignment viewer needs of one source, as files. */
export interface AlignmentInputs {
  readonly source: string;
  readonly mapping: string;
  readonly pivotStore: string;
  readonly sourceStore: string;
  readonly alignedStore: string;
  readonly vocabularyMap: string;
  /** Directories holding the tokenizer files (`loadTokenizer(dir)`). */
  readonly pivotTokenizerDir: string;
  readonly sourceTokenizerDir: string;
}

/** Where every stage of a pipeline keeps its outputs (DESIGN §4). */
export interface RunLayout {
  readonly runDir: string;
  /** `pipeline.json`: name, config hash, resolved config, createdAt. */
  readonly pipelineFile: string;
  /** `plan.json`: the plan made at the start of the last run. */
  readonly planFile: string;
  readonly resultsFile: string;
  /** SHA-256 memory of input files (by path, size, mtime). */
  readonly hashCacheFile: string;
  /** By model name: the pivot's and each source's capture. */
  readonly capture: Readonly<Record<string, CaptureLayout>>;
  /** By source name. */
  readonly align: Readonly<Record<string, AlignLayout>>;
  /** By source name, plus `control` (the CLM-only control). */
  readonly train: Readonly<Record<string, TrainLayout>>;
  readonly merge: {
    readonly id: 'merge';
    readonly dir: string;
    readonly stageFile: string;
    readonly modelDir: string;
    readonly reportJson: string;
    readonly reportSvg: string;
  };
  readonly eval: {
    readonly id: 'eval';
    readonly dir: string;
    readonly stageFile: string;
    /** `{ rows: EvaluationRow[], samples: SampleRecord[] }`. */
    readonly evaluationFile: string;
  };
  readonly report: {
    readonly id: 'report';
    readonly dir: string;
    readonly stageFile: string;
    readonly indexHtml: string;
  };
  /** By source name: the inputs of the alignment viewer. */
  readonly alignment: Readonly<Record<string, AlignmentInputs>>;
}

/**
 * The paths of every stage's outputs for a config, so the report, the plan and tools read a run
 * directory without guessing.
 *
 * @example
 * ```ts
 * const layout = runLayout(config.runDir, config);
 * layout.align.moby.store;            // '<run>/align/moby/store'
 * layout.alignment.moby.vocabularyMap; // '<run>/align/moby/vocabulary-map.json'
 * ```
 */
export function runLayout(
  runDir: string,
  config: Pick<ResolvedPipelineConfig, 'pivot' | 'sources'>,
): RunLayout {
  const capture: Record<string, CaptureLayout> = {};
  const align: Record<string, AlignLayout> = {};
  const train: Record<string, TrainLayout> = {};
  const alignment: Record<string, AlignmentInputs> = {};
  const captureOf = (name: string): CaptureLayout => {
    const dir = join(runDir, 'capture', name);
    return { id: `capture/${name}`, dir, stageFile: join(dir, STAGE_FILE), store: join(dir, 'store') };
  };
  const trainOf = (name: string): TrainLayout => {
    const dir = join(runDir, 'train', name);
    return {
      id: `train/${name}`,
      dir,
      stageFile: join(dir, STAGE_FILE),
      outputDir: dir,
      modelDir: join(dir, 'model'),
      metricsFile: join(dir, 'metrics.jsonl'),
      lossCurve: join(dir, 'loss.svg'),
    };
  };
  capture[config.pivot.name] = captureOf(config.pivot.name);
  for (const source of config.sources) {
    capture[source.name] = captureOf(source.name);
    const dir = join(runDir, 'align', source.name);
    align[source.name] = {
      id: `align/${source.name}`,
      dir,
      stageFile: join(dir, STAGE_FILE),
      store: join(dir, 'store'),
      vocabularyMap: join(dir, 'vocabulary-map.json'),
      alignmentRecord: join(dir, 'alignment.json'),
    };
    train[source.name] = trainOf(source.name);
    alignment[source.name] = {
      source: source.name,
      mapping: source.mapping,
      pivotStore: capture[config.pivot.name]!.store,
      sourceStore: capture[source.name]!.store,
      alignedStore: align[source.name]!.store,
      vocabularyMap: align[source.name]!.vocabularyMap,
      pivotTokenizerDir: config.pivot.model,
      sourceTokenizerDir: source.kind === 'local' ? source.model : source.tokenizer,
    };
  }
  train[CONTROL_NAME] = trainOf(CONTROL_NAME);
  const mergeDir = join(runDir, 'merge');
  const evalDir = join(runDir, 'eval');
  const reportDir = join(runDir, 'report');
  return {
    runDir,
    pipelineFile: join(runDir, 'pipeline.json'),
    planFile: join(runDir, 'plan.json'),
    resultsFile: join(runDir, 'results.json'),
    hashCacheFile: join(runDir, '.file-hashes.json'),
    capture,
    align,
    train,
    merge: {
      id: 'merge',
      dir: mergeDir,
      stageFile: join(mergeDir, STAGE_FILE),
      modelDir: join(mergeDir, 'model'),
      reportJson: join(mergeDir, 'merge-report.json'),
      reportSvg: join(mergeDir, 'merge-report.svg'),
    },
    eval: {
      id: 'eval',
      dir: evalDir,
      stageFile: join(evalDir, STAGE_FILE),
      evaluationFile: join(evalDir, 'evaluation.json'),
    },
    report: {
      id: 'report',
      dir: reportDir,
      stageFile: join(reportDir, STAGE_FILE),
      indexHtml: join(reportDir, 'index.html'),
    },
    alignment,
  };
}
