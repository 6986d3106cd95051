import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createProgressPrinter, formatDuration } from '@fusechat/core';
import type { Command } from 'commander';
import { DEMO_DEFAULTS } from '../demo/demo-defaults.js';
import { backendOption, initCommandBackend, threadsOption } from '../options/backend-option.js';
import { NON_NEGATIVE_INTEGER, POSITIVE_INTEGER, parseNumberOption } from '../options/parse-number-option.js';
import { parseWorkersOption, threadsWithWorkers, workersOption } from '../options/workers-option.js';

/**
 * `fusechat demo`: the built-in FuseChat pipeline (`fusechat run` on a config it writes) with
 * committed domain-specialist teachers and real text of three domains, CPU by default.
 *
 * @example
 * ```ts
 * registerDemoCommand(program);
 * await program.parseAsync(['demo', '--out', 'fusechat-demo'], { from: 'user' });
 * ```
 */
export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description(
      'Run the built-in FuseChat pipeline (fusechat run on a config it writes): a weak generalist ' +
        'pivot and three domain specialists (Moby-Dick, State of the Union addresses, email) with ' +
        'different architectures and tokenizers; capture, align, one target per source with ' +
        '0.9·CLM + 0.1·fusion (MinCE) and a CLM-only control, VaRM merge, per-domain held-out ' +
        'perplexity, samples and an HTML report.',
    )
    .option('--out <dir>', 'where teachers, data, pipeline.yml and the run go (default: a temp dir)')
    .option(
      '--target-steps <n>',
      'optimizer steps of every target and of the control',
      String(DEMO_DEFAULTS.targetSteps),
    )
    .option(
      '--fusion-examples <n>',
      'fusion train conversations per domain',
      String(DEMO_DEFAULTS.fusionExamples),
    )
    .option(
      '--eval-examples <n>',
      'held-out test conversations per domain',
      String(DEMO_DEFAULTS.evalExamples),
    )
    .option('--seed <n>', 'seed of every random choice', String(DEMO_DEFAULTS.seed))
    .option('--json', 'also write the results as JSON to stdout at the end')
    .option('--no-plan', 'skip the prediction of every stage before the run (fusechat plan)')
    .addOption(backendOption())
    .addOption(threadsOption())
    .addOption(workersOption())
    .action(
      async (options: {
        out?: string;
        targetSteps: string;
        fusionExamples: string;
        evalExamples: string;
        seed: string;
        json?: boolean;
        plan: boolean;
        backend: string;
        threads?: string;
        workers?: string;
      }) => {
        const targetSteps = parseNumberOption(options.targetSteps, 'target-steps', POSITIVE_INTEGER);
        const fusionExamples = parseNumberOption(options.fusionExamples, 'fusion-examples', POSITIVE_INTEGER);
        const evalExamples = parseNumberOption(options.evalExamples, 'eval-examples', POSITIVE_INTEGER);
        const seed = parseNumberOption(options.seed, 'seed', NON_NEGATIVE_INTEGER);
        const trainingWorkers = parseWorkersOption(options.workers);
        const backend = await initCommandBackend({
          ...options,
          threads: threadsWithWorkers(options.threads, trainingWorkers),
        });
        // Loaded on use (the pipeline, tfjs, yaml): registering the command (and --help, --version) does not.
        const { runDemo } = await import('../demo/run-demo.js');
        const out = options.out ?? join(tmpdir(), `fusechat-demo-${process.pid}`);
        console.log(`fusechat demo — backend ${backend.name}, output in ${out}`);
        const progress = createProgressPrinter();
        const run = await runDemo({
          out,
          targetSteps,
          fusionExamples,
          evalExamples,
          seed,
          plan: options.plan,
          backendName: backend.name,
          trainingWorkers,
          log: (line) => {
            progress.finish();
            console.log(line);
          },
          onProgress: progress,
        }).finally(() => progress.finish());
        for (const line of run.summary) console.log(line);
        await writeFile(join(out, 'demo-summary.txt'), `${run.summary.join('\n')}\n`);
        console.log(
          `\ndone in ${formatDuration(run.seconds)}. Results: ${join(run.files.runDir, 'results.json')}; ` +
            `report: ${join(run.files.runDir, 'report', 'index.html')}; ` +
            `models are Hugging Face checkpoints under ${run.files.runDir}.\n` +
            `Rerun or extend (add a source, change steps): fusechat run ${run.files.config}`,
        );
        if (options.json === true) console.log(JSON.stringify(run.results));
      },
    );
}
