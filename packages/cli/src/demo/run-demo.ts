import { formatDuration, type Logger, type ProgressCallback } from '@fusechat/core';
import {
  loadPipelineConfig,
  type PipelineResults,
  planInputFromConfig,
  planPipeline,
  planRecord,
  runPipeline,
  writeReport,
} from '@fusechat/pipeline';
import { DEMO_DOMAINS } from './demo-domains.js';
import { type DemoPipelineFiles, type DemoPipelineOptions, writeDemoPipeline } from './demo-pipeline.js';
import { demoVerdict, resultsTable } from './demo-table.js';
import { DEMO_TEACHERS } from './demo-teachers.js';

/** Options of {@link runDemo}. */
export interface DemoOptions extends DemoPipelineOptions {
  /** Where the teachers, data, `pipeline.yml` and the run directory go. */
  readonly out: string;
  /** The backend the pipeline reports running on (already initialised by the caller). */
  readonly backendName?: string;
  /** Predict every stage first (`fusechat plan`; refused when it cannot fit) so the report compares. Default true. */
  readonly plan?: boolean;
  /** Receives every progress line (default: nothing). */
  readonly log?: (line: string) => void;
  /** Progress within the running stage (steps, examples, models). */
  readonly onProgress?: ProgressCallback;
  /** Data-parallel replicas of the train stages (default 1). */
  readonly trainingWorkers?: number | 'auto';
}

/** What {@link runDemo} produced. */
export interface DemoRun {
  readonly files: DemoPipelineFiles;
  readonly results: PipelineResults;
  /** The results table, the verdict and the samples, as printed. */
  readonly summary: readonly string[];
  readonly seconds: number;
}

/**
 * `fusechat demo`: the FuseChat pipeline on a built-in config (`fusechat run` underneath), with
 * committed teachers trained by `scripts/demo-teachers`: a weak generalist pivot (Llama
 * architecture, Mistral's 32k vocabulary) and three domain specialists — Moby-Dick (Mistral
 * architecture, same vocabulary), State of the Union addresses (Qwen2 architecture, Qwen3's 151k
 * byte-level vocabulary) and email (a larger Llama). The run captures every teacher over a small
 * fusion set of all three domains, aligns the sources onto the pivot, trains one target per
 * source (λ·CLM + (1−λ)·fusion, MinCE) and the CLM-only control, merges the targets (VaRM),
 * evaluates every model on held-out documents per domain, and writes the HTML report.
 *
 * @example
 * ```ts
 * const run = await runDemo({ out: 'fusechat-demo', log: console.log });
 * run.summary.forEach((line) => console.log(line));
 * ```
 */
export async function runDemo(options: DemoOptions): Promise<DemoRun> {
  const started = performance.now();
  const log = options.log ?? (() => {});
  log(
    `teachers: ${DEMO_TEACHERS.map((teacher) => `${teacher.name} (${teacher.config.modelType}, hidden ${teacher.config.hiddenSize}, ${teacher.tokenizer} vocabulary${teacher.domain === undefined ? ', generalist pivot' : `, ${teacher.domain} specialist`})`).join('; ')}`,
  );
  const files = await writeDemoPipeline(options.out, options);
  log(
    `data: ${Object.entries(files.counts)
      .map(([name, count]) => `${name} ${count}`)
      .join(
        ', ',
      )} conversations (documents disjoint across splits and from the teachers' training text); config ${files.config}`,
  );
  const logger: Logger = {
    debug() {},
    info: (message) => log(message),
    warn: (message) => log(`warning: ${message}`),
    error: (message) => log(`error: ${message}`),
  };
  const config = await loadPipelineConfig(files.config, { logger });
  const results = await runPipeline(config, {
    log: logger,
    onProgress: options.onProgress,
    backendName: options.backendName,
    trainingWorkers: options.trainingWorkers,
    report: (pipelineResults, runDir) => writeReport(pipelineResults, runDir).then(() => undefined),
    ...(options.plan === false
      ? {}
      : {
          plan: async (resolved) =>
            planRecord(
              await planPipeline(planInputFromConfig(resolved), {
                logger,
                trainingWorkers: options.trainingWorkers,
              }),
            ),
        }),
  });
  const summary = demoSummary(results);
  return { files, results, summary, seconds: (performance.now() - started) / 1000 };
}

/** The lines `fusechat demo` prints at the end: table, verdict, samples. */
export function demoSummary(results: PipelineResults): string[] {
  const lines = ['', `held-out response perplexity per domain (${DEMO_DOMAINS.join(', ')}: test documents):`];
  lines.push(...resultsTable(results).map((line) => `  ${line}`));
  lines.push('', ...demoVerdict(results).lines);
  const fusion = results.fusion.map((record) => `${record.source} ${(record.sourceWins * 100).toFixed(0)}%`);
  if (fusion.length > 0)
    lines.push(`MinCE chose the source over the pivot on: ${fusion.join(', ')} of the fusion data`);
  for (const sample of results.samples) {
    const decoding = sample.decoding === undefined ? '' : ` (${sample.decoding})`;
    lines.push('', `prompt${decoding}: ${JSON.stringify(sample.prompt)}`);
    for (const completion of sample.completions)
      lines.push(`  ${completion.model}: ${JSON.stringify(completion.text)}`);
  }
  const seconds = (Date.parse(results.finishedAt) - Date.parse(results.startedAt)) / 1000;
  if (Number.isFinite(seconds)) lines.push('', `pipeline ran in ${formatDuration(seconds)}`);
  return lines;
}
