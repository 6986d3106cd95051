// Recipe: the whole FuseChat pipeline from one config, on an NVIDIA GPU when there is one.
//   node … src/main.ts PIPELINE.yml [--backend auto|tensorflow-gpu|tensorflow|wasm|cpu]
//   node … src/main.ts                (no config: a tiny pipeline built in code, in a temp dir)
// What it does, in the order `fusechat run PIPELINE.yml` does it:
//   1. initBackend: tensorflow-gpu (@tensorflow/tfjs-node-gpu) → tensorflow → wasm → cpu, one notice
//      line; then whether libtensorflow really found a GPU (it silently computes on the CPU without
//      CUDA 11.2 / cuDNN 8.1, see describe-acceleration.ts);
//   2. loadPipelineConfig: every problem of the config listed at once, before anything runs;
//   3. runPipeline, after planning (as `fusechat plan` does: refused if it cannot fit): capture → align → train (one target per source, and the CLM-only control) →
//      merge → eval → report, each stage skipped when its manifest says its inputs are unchanged.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BackendRequest, type BackendSelection, initBackend, isBackendRequest } from '@fusechat/backend';
import type { Logger } from '@fusechat/core';
import {
  loadPipelineConfig,
  type PipelineResults,
  planInputFromConfig,
  planPipeline,
  planRecord,
  type ResolvedPipelineConfig,
  runPipeline,
  writeReport,
} from '@fusechat/pipeline';
import { type Acceleration, describeAcceleration } from './describe-acceleration.js';
import { writeTinyPipeline } from './write-tiny-pipeline.js';

/** Options of {@link runRecipe}. */
export interface RunRecipeOptions {
  /** `auto` (default) takes the fastest backend that works; a name fails loudly if it cannot run. */
  readonly backend?: BackendRequest;
  /** Threads of the wasm backend (default: the idle cores, at most 8). */
  readonly wasmThreads?: number;
  /** Where every line goes (default stderr). */
  readonly log?: (line: string) => void;
  /**
   * Predict disk, memory and time first (`fusechat plan`), refuse a run that cannot fit, and
   * record the prediction for the report (default true).
   */
  readonly plan?: boolean;
}

/** The backend the recipe computes on and the validated config: what runs before any stage. */
export interface PreparedRecipe {
  readonly backend: BackendSelection;
  readonly acceleration: Acceleration;
  readonly config: ResolvedPipelineConfig;
}

/** What {@link runRecipe} ran on and produced. */
export interface RecipeResult extends PreparedRecipe {
  readonly runDir: string;
  readonly results: PipelineResults;
}

function lineLogger(log: (line: string) => void): Logger {
  const write = (message: string) => log(message);
  return { debug() {}, info: write, warn: write, error: write };
}

/** `tensorflow-gpu (CPU: no GPU device)` when libtensorflow fell back, so results.json says what computed. */
function describeBackendForResults({ backend, acceleration }: PreparedRecipe): string {
  return backend.name === 'tensorflow-gpu' && !acceleration.gpu
    ? 'tensorflow-gpu (CPU: no GPU device)'
    : backend.name;
}

const stderrLine = (line: string) => process.stderr.write(`${line}\n`);

/**
 * Step 1: initialises the backend `options.backend` asks for and logs `initBackend`'s notice
 * (the first time) and whether a GPU computes. Call it before building or loading any model.
 *
 * @example
 * ```ts
 * const { backend, acceleration } = await chooseBackend({ backend: 'auto' });
 * ```
 */
export async function chooseBackend(
  options: RunRecipeOptions = {},
): Promise<{ backend: BackendSelection; acceleration: Acceleration }> {
  const log = options.log ?? stderrLine;
  const backend = await initBackend(options.backend ?? 'auto', {
    logger: lineLogger((line) => log(`[fusechat] ${line}`)),
    ...(options.wasmThreads === undefined ? {} : { wasmThreads: options.wasmThreads }),
  });
  const acceleration = describeAcceleration(backend);
  log(`[fusechat] ${acceleration.notice}`);
  return { backend, acceleration };
}

/**
 * Steps 1 and 2: {@link chooseBackend}, then the config, refused with every problem listed.
 *
 * @example
 * ```ts
 * const { backend, acceleration, config } = await prepareRecipe('pipeline.yml');
 * ```
 */
export async function prepareRecipe(
  configPath: string,
  options: RunRecipeOptions = {},
): Promise<PreparedRecipe> {
  const chosen = await chooseBackend(options);
  const config = await loadPipelineConfig(configPath, { logger: lineLogger(options.log ?? stderrLine) });
  return { ...chosen, config };
}

/**
 * Runs every stage of the pipeline `configPath` describes, on the backend `options.backend`
 * asks for, and prints a results table. Rerunning it skips what is done.
 *
 * @example
 * ```ts
 * const { acceleration, results } = await runRecipe('pipeline.yml');
 * acceleration.notice; // 'GPU: @tensorflow/tfjs-node-gpu, libtensorflow on its first CUDA device'
 * ```
 */
export async function runRecipe(configPath: string, options: RunRecipeOptions = {}): Promise<RecipeResult> {
  const log = options.log ?? stderrLine;
  const prepared = await prepareRecipe(configPath, options);
  const results = await runPipeline(prepared.config, {
    log: lineLogger(log),
    backendName: describeBackendForResults(prepared),
    // The report stage renders with @fusechat/pipeline's own renderer (what `fusechat run` does).
    report: async (results, runDir) => {
      await writeReport(results, runDir);
    },
    ...(options.plan === false
      ? {}
      : {
          plan: async (config: ResolvedPipelineConfig) =>
            planRecord(await planPipeline(planInputFromConfig(config), { logger: lineLogger(log) })),
        }),
  });
  log(formatResults(results, prepared.config.runDir));
  return { ...prepared, runDir: prepared.config.runDir, results };
}

/** The stages (what ran, what was reused) and the held-out perplexity per model and split. */
export function formatResults(results: PipelineResults, runDir: string): string {
  const lines = [`run directory ${runDir}`];
  for (const stage of results.stages)
    lines.push(
      `  ${stage.id.padEnd(16)} ${stage.status}${stage.reused ? ' (reused)' : ''}  ${stage.seconds.toFixed(1)} s`,
    );
  const splits = [...new Set(results.evaluation.map((row) => row.split))];
  const models = [...new Set(results.evaluation.map((row) => row.model))];
  if (splits.length > 0) {
    lines.push(`held-out perplexity   ${splits.map((split) => split.padStart(12)).join('')}`);
    for (const model of models) {
      const cells = splits.map((split) => {
        const row = results.evaluation.find((entry) => entry.model === model && entry.split === split);
        return (row ? row.perplexity.toFixed(2) : '—').padStart(12);
      });
      lines.push(`  ${model.padEnd(20)}${cells.join('')}`);
    }
  }
  lines.push(`report: ${join(runDir, 'report', 'index.html')}`);
  return lines.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const flag = args.indexOf('--backend');
  const backend = flag >= 0 ? args.splice(flag, 2)[1] : 'auto';
  if (!isBackendRequest(backend))
    throw new Error(`--backend ${backend}: use auto|tensorflow-gpu|tensorflow|wasm|cpu`);
  await chooseBackend({ backend });
  const config = args[0] ?? (await writeTinyPipeline(await mkdtemp(join(tmpdir(), 'fusechat-pipeline-'))));
  await runRecipe(config, { backend });
}
