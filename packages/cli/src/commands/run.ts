import type { BackendRequest, BackendSelection } from '@fusechat/backend';
import { createConsoleLogger, createProgressPrinter, formatDuration } from '@fusechat/core';
import type { PipelinePlanRecord, PipelineResults, ResolvedPipelineConfig } from '@fusechat/pipeline';
import type { Command } from 'commander';
import { backendOption, initCommandBackend, threadsOption } from '../options/backend-option.js';
import { parseWorkersOption, threadsWithWorkers, workersOption } from '../options/workers-option.js';

/**
 * The planner and the report renderer. By default `defaultRunHooks` (plan first, refusing what
 * cannot fit; `report/index.html` last); tests pass their own.
 */
export interface RunCommandHooks {
  readonly plan?: ((config: ResolvedPipelineConfig) => Promise<PipelinePlanRecord>) | undefined;
  readonly report?: ((results: PipelineResults, runDir: string) => Promise<void>) | undefined;
}

/**
 * `fusechat run PIPELINE.yml`: the whole pipeline from one config — capture, align, train (one
 * target per source and the CLM-only control), merge, eval, report — in the config's run
 * directory. Every stage has a `stage.json`: a rerun skips what is done, resumes what stopped and
 * redoes what an input change reaches. Stage lines and progress on stderr; a results table (or
 * `--json`, the results) on stdout.
 *
 * @example
 * ```ts
 * const program = new Command('fusechat');
 * registerRunCommand(program);
 * await program.parseAsync(['run', 'pipeline.yml', '--backend', 'wasm'], { from: 'user' });
 * ```
 */
export function registerRunCommand(program: Command, hooks?: RunCommandHooks): void {
  program
    .command('run')
    .description(
      'Run the whole FuseChat pipeline from one YAML config (capture, align, train, merge, eval, report); reruns skip finished stages and resume stopped ones.',
    )
    .argument('<pipeline>', 'pipeline config (YAML; see pipeline-config.schema.json)')
    .option('--json', 'print results.json on stdout instead of the results table', false)
    .option('--no-plan', 'do not predict the stages first (no plan.json: the report has no plan vs reality)')
    .addOption(backendOption())
    .addOption(threadsOption())
    .addOption(workersOption())
    .addHelpText(
      'after',
      [
        '',
        'Example config:',
        '  name: my-fusion',
        '  pivot: { model: models/pivot }',
        '  sources:',
        '    - { name: moby, model: models/moby, mapping: min-edit-distance }',
        '    - { name: big, endpoint: http://gpu:8000, model_name: Qwen/Qwen2.5-7B-Instruct, tokenizer: tok }',
        '  data: { train: data/train.jsonl, test: [{ name: moby, path: data/test-moby.jsonl }] }',
        '  training: { lambda: 0.9, fusion: min-ce, learning_rate: 1e-3, max_steps: 40 }',
        '  merge: { method: variation-ratio }',
        'Outputs in run_dir (default <config dir>/<name>.run): capture/, align/, train/, merge/, eval/, report/, results.json.',
        'Ctrl-C stops after the current step; rerun the same command to resume.',
      ].join('\n'),
    )
    .action(
      async (
        path: string,
        options: {
          json: boolean;
          plan: boolean;
          backend: BackendRequest;
          threads?: string;
          workers?: string;
        },
      ) => {
        const logger = createConsoleLogger({ prefix: 'fusechat: ' });
        const trainingWorkers = parseWorkersOption(options.workers);
        // Loaded on use: registering the command (and --help, --version) does not load it.
        const { defaultRunHooks, loadPipelineConfig, runPipeline } = await import('@fusechat/pipeline');
        // Every problem of the config is listed before anything loads or runs.
        const config = await loadPipelineConfig(path, { logger });
        const selection = await initCommandBackend(
          { ...options, threads: threadsWithWorkers(options.threads, trainingWorkers) },
          { logger },
        );
        const controller = new AbortController();
        const onSignal = () => {
          logger.warn('interrupted: stopping the running stage; rerun the same command to resume.');
          controller.abort();
        };
        process.once('SIGINT', onSignal);
        const progress = createProgressPrinter();
        try {
          const results = await runPipeline(config, {
            log: {
              ...logger,
              info: (message, fields) => {
                progress.finish();
                logger.info(message, fields);
              },
            },
            onProgress: progress,
            signal: controller.signal,
            backendName: backendLabel(selection),
            trainingWorkers,
            ...(hooks ?? defaultRunHooks({ logger, plan: options.plan, trainingWorkers })),
          });
          progress.finish();
          process.stdout.write(
            options.json ? `${JSON.stringify(results)}\n` : resultsTable(results, config.runDir),
          );
        } finally {
          progress.finish();
          process.off('SIGINT', onSignal);
        }
      },
    );
}

/** e.g. `wasm [2 threads]`. */
function backendLabel(selection: BackendSelection): string {
  return selection.threads === undefined
    ? selection.name
    : `${selection.name} [${selection.threads} threads]`;
}

/** The terminal summary: stages (ran or reused, time) and the evaluation table. */
export function resultsTable(results: PipelineResults, runDir: string): string {
  const lines: string[] = [];
  const ran = results.stages.filter((stage) => !stage.reused);
  const seconds = ran.reduce((total, stage) => total + stage.seconds, 0);
  lines.push(
    `${results.name}: ${ran.length} stage(s) ran in ${formatDuration(seconds)}, ${results.stages.length - ran.length} up to date → ${runDir}`,
  );
  const splits = [...new Set(results.evaluation.map((row) => `${row.set ?? 'test'}/${row.split}`))];
  if (splits.length > 0) {
    const models = [...new Set(results.evaluation.map((row) => row.model))];
    const width = Math.max(5, ...models.map((model) => model.length));
    lines.push(
      `${'model'.padEnd(width)}  ${splits.map((split) => split.padStart(14)).join('  ')}   (perplexity)`,
    );
    for (const model of models) {
      const cells = splits.map((split) => {
        const row = results.evaluation.find(
          (entry) => entry.model === model && `${entry.set ?? 'test'}/${entry.split}` === split,
        );
        return (row === undefined ? '—' : row.perplexity.toFixed(2)).padStart(14);
      });
      lines.push(`${model.padEnd(width)}  ${cells.join('  ')}`);
    }
  }
  for (const sample of results.samples) {
    lines.push(`prompt: ${JSON.stringify(sample.prompt)}`);
    for (const completion of sample.completions)
      lines.push(`  ${completion.model}: ${JSON.stringify(completion.text)}`);
  }
  return `${lines.join('\n')}\n`;
}
