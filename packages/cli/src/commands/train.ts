import { copyFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { BackendRequest } from '@fusechat/backend';
import { createConsoleLogger, formatDuration, InvalidInputError, type ProgressEvent } from '@fusechat/core';
import { loadTokenizer } from '@fusechat/tokenizer-alignment';
import type { TrainResult } from '@fusechat/training';
import type { Command } from 'commander';
import { backendOption, initCommandBackend, threadsOption } from '../options/backend-option.js';
import { resolveConfigModel } from '../options/model-reference.js';
import { parseWorkersOption, threadsWithWorkers, workersOption } from '../options/workers-option.js';

/**
 * `fusechat train CONFIG.yml`: fine-tunes a model as a YAML config says — fusion training over a
 * pivot store and aligned source stores (`λ·CLM + (1−λ)·fusion`), or plain CLM over chat JSONL —
 * with a progress line (loss, lr, tokens/s, ETA) on stderr and a summary line (or `--json`) on
 * stdout. Rerunning the same command resumes from the latest checkpoint in `output_dir`.
 *
 * @example
 * ```ts
 * const program = new Command('fusechat');
 * registerTrainCommand(program);
 * await program.parseAsync(['train', 'train-mistral.yml', '--json'], { from: 'user' });
 * ```
 */
export function registerTrainCommand(program: Command): void {
  program
    .command('train')
    .description(
      'Fine-tune a model as a YAML config says: fusion training over distribution stores (λ·CLM + (1−λ)·fusion) or plain CLM over chat JSONL; resumable.',
    )
    .argument(
      '<config>',
      'train config (YAML; Hugging Face TrainingArguments names, see train-config.schema.json)',
    )
    .option('--json', 'print the result as one JSON line on stdout instead of the summary line', false)
    .addOption(backendOption())
    .addOption(threadsOption())
    .addOption(workersOption())
    .addHelpText(
      'after',
      [
        '',
        'Example config (fusion training of one target, FuseChat defaults):',
        '  model_name_or_path: models/pivot        # the pivot: a directory, or a Hugging Face id ORG/NAME[@revision]',
        '  pivot_store: capture/pivot               # fusechat capture of the pivot',
        '  aligned_stores: [align/qwen]             # fusechat align of each source onto it',
        '  output_dir: train/qwen',
        '  learning_rate: 1.0e-5',
        '  per_device_train_batch_size: 8',
        '  gradient_accumulation_steps: 4',
        '  num_train_epochs: 3',
        '  warmup_ratio: 0.03',
        '  lr_scheduler_type: cosine',
        '  lm_loss_weight: 0.9',
        '  fusion: min_ce',
        'Plain CLM: train_file: data/train.jsonl instead of the stores. Relative paths are relative to the',
        'config file. Outputs: output_dir/checkpoint-<step>/, metrics.jsonl, loss.svg, model/ (the final model).',
        'Rerun the same command to resume from the latest complete checkpoint (resume_from_checkpoint: false to restart).',
      ].join('\n'),
    )
    .action(
      async (
        configPath: string,
        options: { json: boolean; backend: BackendRequest; threads?: string; workers?: string },
      ) => {
        const logger = createConsoleLogger({ prefix: 'fusechat: ' });
        const workers = parseWorkersOption(options.workers);
        // Loaded on use (they load tfjs): registering the command (and --help, --version) does not.
        const [{ loadModel, readModelConfig }, { createConfigDatasets, loadTrainConfig, train }] =
          await Promise.all([import('@fusechat/model'), import('@fusechat/training')]);
        const config = await loadTrainConfig(configPath);
        for (const warning of config.warnings) logger.warn(`${configPath}: ${warning}`);
        // Cheap checks first: the model's config, its tokenizer, then the data (which checks the
        // stores against the tokenizer), all before any weight is loaded.
        const modelDir = await resolveConfigModel(configPath, 'model_name_or_path', config.modelNameOrPath, {
          logger,
          resolve: { need: 'model-and-tokenizer' },
        });
        const { config: modelConfig } = await readModelConfig(modelDir);
        const tokenizer = await loadTokenizer(modelDir);
        const maxLength = config.dataset.maxLength ?? modelConfig.maxPositionEmbeddings;
        if (maxLength > modelConfig.maxPositionEmbeddings) {
          logger.warn(
            `model_max_length ${maxLength} exceeds the model's max_position_embeddings (${modelConfig.maxPositionEmbeddings}).`,
          );
        }
        const withLength = <T extends { maxLength: number | undefined }>(spec: T): T => ({
          ...spec,
          maxLength: spec.maxLength ?? maxLength,
        });
        const datasets = await createConfigDatasets(
          {
            dataset: withLength(config.dataset),
            evalDataset: config.evalDataset && withLength(config.evalDataset),
          },
          { tokenizer },
        );
        const controller = new AbortController();
        const onSignal = () => {
          logger.warn('interrupted: stopping after the current step; rerun the same command to resume.');
          controller.abort();
        };
        process.once('SIGINT', onSignal);
        const progress = createTrainProgressLine();
        try {
          checkWarmup(config.training, datasets.dataset.batchesPerEpoch);
          await initCommandBackend(
            { ...options, threads: threadsWithWorkers(options.threads, workers) },
            { logger },
          );
          const model = await loadModel(modelDir);
          let result: TrainResult;
          try {
            result = await train({
              model,
              dataset: datasets.dataset,
              evalDataset: datasets.evalDataset,
              training: config.training,
              outputDir: config.outputDir,
              resume: config.resume,
              onProgress: progress,
              logger,
              signal: controller.signal,
              workers,
            });
          } finally {
            progress.finish();
            model.dispose();
          }
          await copyTokenizerFiles(modelDir, result.modelDir);
          process.stdout.write(
            options.json
              ? `${JSON.stringify(result)}\n`
              : `${trainSummaryLine(result, datasets.dataset.hasTargets)}\n`,
          );
        } finally {
          process.off('SIGINT', onSignal);
          await datasets.close();
        }
      },
    );
}

/** The one-line summary `fusechat train` prints when it is done. */
export function trainSummaryLine(result: TrainResult, fusion: boolean): string {
  const where = `model: ${result.modelDir}; metrics: ${result.metricsFile}${
    result.lossCurveFile === undefined ? '' : `; loss curve: ${result.lossCurveFile}`
  }`;
  if (result.finalLoss === undefined) {
    return `nothing to train: ${result.steps} steps done already (checkpoint in ${result.checkpoints.at(-1) ?? 'output_dir'}); ${where}`;
  }
  const evaluation =
    result.bestEvalLoss === undefined ? '' : `, best eval loss ${result.bestEvalLoss.toFixed(4)}`;
  const resumed = result.resumedFrom === undefined ? '' : ` (resumed at step ${result.resumedFrom})`;
  return (
    `${result.stoppedEarly ? 'stopped early after' : 'trained'} ${result.steps} steps${resumed} (${fusion ? 'fusion' : 'CLM'}, ${result.epochs.toFixed(2)} epochs) ` +
    `in ${formatDuration(result.seconds)}, ${formatCount(result.tokensPerSecond)} tokens/s; final loss ${result.finalLoss.toFixed(4)}${evaluation}` +
    `${result.skippedSteps > 0 ? `, ${result.skippedSteps} non-finite steps skipped` : ''}; ${where}`
  );
}

/**
 * `warmup_steps` larger than the run is refused before training (the config can check it only
 * against `max_steps`; with epochs the step count depends on the data).
 */
function checkWarmup(
  training: {
    maxSteps?: number | undefined;
    numTrainEpochs?: number | undefined;
    gradientAccumulationSteps?: number | undefined;
    warmupSteps?: number | undefined;
  },
  batchesPerEpoch: number,
): void {
  if (training.warmupSteps === undefined || training.maxSteps !== undefined) return;
  const stepsPerEpoch = Math.max(1, Math.ceil(batchesPerEpoch / (training.gradientAccumulationSteps ?? 1)));
  const total = Math.ceil((training.numTrainEpochs ?? 3) * stepsPerEpoch);
  if (training.warmupSteps > total) {
    throw new InvalidInputError(
      `warmup_steps (${training.warmupSteps}) exceeds the ${total} optimizer steps of this run (${training.numTrainEpochs ?? 3} epochs × ${stepsPerEpoch} steps); lower it or use warmup_ratio.`,
      {
        code: 'TRAIN_CONFIG_INVALID',
        field: 'warmup_steps',
        details: {
          problems: [
            {
              path: 'warmup_steps',
              message: `exceeds the ${total} optimizer steps of this run`,
              line: undefined,
            },
          ],
        },
      },
    );
  }
}

/**
 * A throttled status line for training: step, share done, the loop's detail (loss, lr, tokens/s)
 * and an ETA from the steps this process has run (so a resumed run does not count the steps of
 * the run before it). In place on a TTY, one line every few seconds otherwise.
 */
function createTrainProgressLine(
  stream: NodeJS.WriteStream = process.stderr,
): ((event: ProgressEvent) => void) & { finish(): void } {
  const interactive = Boolean(stream.isTTY);
  const interval = interactive ? 200 : 5_000;
  let first: { completed: number; at: number } | undefined;
  let lastPrint = Number.NEGATIVE_INFINITY;
  let pending: string | undefined;
  let printed = false;
  const print = (line: string) => {
    stream.write(interactive ? `\r\u001b[2K${line.slice(0, (stream.columns ?? 120) - 1)}` : `${line}\n`);
    pending = undefined;
    printed = true;
  };
  const callback = (event: ProgressEvent) => {
    if (event.task !== 'train') return;
    const now = performance.now();
    if (first === undefined) {
      first = { completed: event.completed, at: now };
      return;
    }
    const total = event.total;
    const done = event.completed - first.completed;
    const seconds = (now - first.at) / 1000;
    const eta =
      total !== undefined && done > 0 && event.completed < total
        ? ` eta ${formatDuration(((total - event.completed) * seconds) / done)}`
        : '';
    const share = total ? ` ${((100 * event.completed) / total).toFixed(1)}%` : '';
    const line = `train: step ${event.completed}${total === undefined ? '' : `/${total}`}${share}${
      event.detail ? ` ${event.detail}` : ''
    }${eta}`;
    if ((total !== undefined && event.completed >= total) || now - lastPrint >= interval) {
      lastPrint = now;
      print(line);
    } else {
      pending = line;
    }
  };
  return Object.assign(callback, {
    finish() {
      if (pending !== undefined) print(pending);
      if (interactive && printed) stream.write('\n');
      printed = false;
    },
  });
}

/**
 * The trained model gets the tokenizer files of the model it started from, so `fusechat eval`,
 * `generate` and `serve` (and transformers) load it as it is.
 */
async function copyTokenizerFiles(from: string, to: string): Promise<void> {
  const { TOKENIZER_FILES } = await import('@fusechat/model');
  for (const file of TOKENIZER_FILES) {
    const isFile = await stat(join(from, file)).then(
      (entry) => entry.isFile(),
      () => false,
    );
    if (isFile) await copyFile(join(from, file), join(to, file));
  }
}

function formatCount(value: number): string {
  if (!Number.isFinite(value)) return '?';
  if (value >= 1e6) return `${(value / 1e6).toFixed(2)}M`;
  if (value >= 1e3) return `${(value / 1e3).toFixed(2)}k`;
  return value.toFixed(0);
}
