import type { BackendRequest } from '@fusechat/backend';
import { createConsoleLogger, formatBytes, formatDuration, InvalidInputError } from '@fusechat/core';
import type { Command } from 'commander';
import { backendOption, initCommandBackend, threadsOption } from '../options/backend-option.js';
import { POSITIVE_INTEGER, parseNumberOption } from '../options/parse-number-option.js';
import { parseWorkersOption, threadsWithWorkers, workersOption } from '../options/workers-option.js';
import { parseByteSize } from './merge.js';

/**
 * `fusechat plan PIPELINE.yml`: before anything runs, predicts every stage's time, peak memory and
 * disk on this machine (exact token counts, short calibrations of capture, alignment, training,
 * merge and generation), prints a table (or `--json`), and exits 1 with
 * `PIPELINE_PLAN_DOES_NOT_FIT` naming every stage that does not fit the free disk or memory.
 *
 * @example
 * ```ts
 * const program = new Command('fusechat');
 * registerPlanCommand(program);
 * await program.parseAsync(['plan', 'pipeline.yml', '--json'], { from: 'user' });
 * ```
 */
export function registerPlanCommand(program: Command): void {
  program
    .command('plan')
    .description(
      'Predict disk, peak memory and time of every pipeline stage on this machine (measured throughput), and refuse a plan that does not fit.',
    )
    .argument('<config>', 'pipeline config (YAML, the one fusechat run takes)')
    .option('--json', 'print the plan as JSON on stdout instead of the table', false)
    .option('--sample-tokens <n>', 'tokens of the data each local model captures for calibration', '4096')
    .option('--training-steps <n>', 'timed training steps per calibration (after one warm-up step)', '3')
    .option(
      '--no-remote-calibration',
      "do not time remote sources' servers (their capture and alignment time stay unpredicted; e.g. before the servers are up)",
    )
    .option(
      '--disk-limit <size>',
      'check against this much free disk instead of the measured free space of run_dir (e.g. the machine the run goes to: 200GB)',
    )
    .option(
      '--memory-limit <size>',
      'check against this much memory per stage instead of the measured available memory (e.g. 16GiB)',
    )
    .addOption(backendOption())
    .addOption(threadsOption())
    .addOption(workersOption())
    .addHelpText(
      'after',
      [
        '',
        'Token counts are exact (the data rendered with each chat template and tokenised as capture does).',
        'Throughput is measured: a capture of a sample of the data with each local model into a scratch store',
        '(which also gives the store bytes per token), a re-indexing of those stores, a few training steps on a',
        "randomly initialised model of the pivot's shape, a merge of the pivot's shape, the eval stage's scoring",
        "of each split's first conversations and a short generation per model shape.",
        "Memory adds up weights, gradients, AdamW moments, activations and logits for the run's exact batch shapes",
        'over this process baseline, plus on wasm the heap earlier work grew (WebAssembly never returns it).',
        'Disk is checked cumulatively against the free space of run_dir; memory per',
        'stage against the available memory (cgroup limit included). Remote sources are timed by capturing the',
        "same sample from their servers (the capture stage's own client, one attempt per request): a server that",
        "does not answer leaves that source's time unpredicted, with the reason, and the plan goes on.",
      ].join('\n'),
    )
    .action(
      async (
        configPath: string,
        options: {
          json: boolean;
          sampleTokens: string;
          trainingSteps: string;
          remoteCalibration: boolean;
          diskLimit?: string;
          memoryLimit?: string;
          backend: BackendRequest;
          threads?: string;
          workers?: string;
        },
      ) => {
        const logger = createConsoleLogger({ prefix: 'fusechat: ' });
        const trainingWorkers = parseWorkersOption(options.workers);
        const sampleTokens = parseNumberOption(options.sampleTokens, 'sample-tokens', POSITIVE_INTEGER);
        const trainingSteps = parseNumberOption(options.trainingSteps, 'training-steps', POSITIVE_INTEGER);
        const diskLimit =
          options.diskLimit === undefined ? undefined : sizeOption(options.diskLimit, 'disk-limit');
        const memoryLimit =
          options.memoryLimit === undefined ? undefined : sizeOption(options.memoryLimit, 'memory-limit');
        // Loaded on use: registering the command (and --help, --version) does not load it.
        const {
          formatPlan,
          loadPipelineConfig,
          planDoesNotFit,
          planInputFromConfig,
          planPipeline,
          planRecord,
          readMachineResources,
        } = await import('@fusechat/pipeline');
        const config = await loadPipelineConfig(configPath, { logger });
        await initCommandBackend(
          { ...options, threads: threadsWithWorkers(options.threads, trainingWorkers) },
          { logger },
        );
        const input = planInputFromConfig(config);
        const measured = await readMachineResources(input.runDir);
        const baselineBytes = process.memoryUsage().rss;
        const resources = {
          ...measured,
          ...(diskLimit === undefined ? {} : { freeDiskBytes: diskLimit }),
          // The limit is what a stage may reach in all: the plan adds this process's baseline back.
          ...(memoryLimit === undefined
            ? {}
            : { availableMemoryBytes: Math.max(0, memoryLimit - baselineBytes) }),
        };
        const plan = await planPipeline(input, {
          refuse: false,
          resources,
          baselineBytes,
          sampleTokens,
          trainingSteps,
          remoteCalibration: options.remoteCalibration,
          trainingWorkers,
          logger,
        });
        if (options.json) {
          const { stages, totals, resources, baselineBytes, planningSeconds, shortfalls, fits } = plan;
          process.stdout.write(
            `${JSON.stringify({ ...planRecord(plan), stages, totals, resources, baselineBytes, planningSeconds, fits, shortfalls })}\n`,
          );
        } else {
          process.stdout.write(`${formatPlan(plan)}\n`);
          process.stdout.write(
            `run_dir ${config.runDir}: ${formatBytes(plan.resources.freeDiskBytes)} free disk${diskLimit === undefined ? '' : ' (--disk-limit)'}, ${formatBytes(plan.resources.availableMemoryBytes + plan.baselineBytes)} memory for a stage${memoryLimit === undefined ? '' : ' (--memory-limit)'}; planned in ${formatDuration(plan.planningSeconds)}\n`,
          );
        }
        if (!plan.fits) throw planDoesNotFit(plan.shortfalls);
      },
    );
}

function sizeOption(text: string, name: string): number {
  try {
    return parseByteSize(text);
  } catch (cause) {
    throw new InvalidInputError(`--${name}: "${text}" is not a size; write e.g. 200GB, 500MB or 16GiB.`, {
      code: 'CLI_INVALID_SIZE',
      field: name,
      cause,
    });
  }
}
