import { createProgressPrinter, formatBytes, formatDuration, UnknownNameError } from '@fusechat/core';
import type { Command } from 'commander';
import { backendOption } from '../options/backend-option.js';
import { parseByteSize } from './merge.js';

/** Formats `fusechat export` writes. */
export const EXPORT_FORMATS = ['hf-datasets'] as const;

/**
 * `fusechat export STORE --format hf-datasets --out DIR [--pivot STORE]`: writes a distribution
 * store as a Hugging Face `datasets` directory with FuseChat's column names, for FuseChat's own
 * (multi-GPU) trainer. A pivot store gives FuseChat's representation dataset; an aligned store,
 * with `--pivot` naming the pivot store it was aligned to, gives the pairwise-fusion dataset that
 * `train.py --do_fuse` reads.
 *
 * @example
 * ```ts
 * const program = new Command('fusechat');
 * registerExportCommand(program);
 * await program.parseAsync(
 *   ['export', 'run/align/moby/store', '--pivot', 'run/capture/pivot/store', '--format', 'hf-datasets', '--out', 'export/moby'],
 *   { from: 'user' },
 * );
 * ```
 */
export function registerExportCommand(program: Command): void {
  program
    .command('export')
    .description(
      "Write a distribution store as a Hugging Face datasets directory (Arrow) with FuseChat's columns, for FuseChat's own distributed trainer.",
    )
    .argument('<store>', 'the store to export: a pivot (or any unaligned) store, or an aligned source store')
    .option('--format <format>', `output format (${EXPORT_FORMATS.join(', ')})`, 'hf-datasets')
    .requiredOption(
      '--out <dir>',
      'the dataset directory to create (refused if it exists, unless --overwrite)',
    )
    .option(
      '--pivot <store>',
      'for an aligned store: the pivot store it was aligned to (their distributions are joined per example)',
    )
    .option(
      '--max-shard-size <size>',
      'largest Arrow data file, e.g. 500MB (datasets’ default), 2GB',
      '500MB',
    )
    .option(
      '--drop-nan-ce',
      'leave out examples whose CE is NaN (nothing supervised), as FuseChat’s filter_nan.py',
    )
    .option('--overwrite', 'replace an existing output directory')
    .option('--json', 'print the summary as one JSON object on stdout')
    // Accepted like on every command; exporting computes nothing on a backend.
    .addOption(backendOption())
    .action(
      async (
        store: string,
        options: {
          format: string;
          out: string;
          pivot?: string;
          maxShardSize: string;
          dropNanCe?: boolean;
          overwrite?: boolean;
          json?: boolean;
        },
      ) => {
        if (!(EXPORT_FORMATS as readonly string[]).includes(options.format))
          throw new UnknownNameError('export format', options.format, EXPORT_FORMATS, {
            code: 'CLI_EXPORT_UNKNOWN_FORMAT',
          });
        const shardBytes = parseByteSize(options.maxShardSize);
        // Loaded on use: registering the command (and --help, --version) does not load it.
        const { exportStoreToHfDataset } = await import('@fusechat/hf-datasets');
        const progress = createProgressPrinter();
        try {
          const summary = await exportStoreToHfDataset(store, {
            out: options.out,
            pivot: options.pivot,
            shardBytes,
            dropNanCe: options.dropNanCe ?? false,
            overwrite: options.overwrite ?? false,
            onProgress: progress,
          });
          progress.finish();
          if (options.json) {
            process.stdout.write(`${JSON.stringify(summary)}\n`);
            return;
          }
          const rate = summary.seconds > 0 ? summary.tokens / summary.seconds : 0;
          const lines = [
            `exported ${summary.examples} examples (${summary.tokens} tokens, longest ${summary.maxLength}) as a ${summary.kind} dataset in ${formatDuration(summary.seconds)} (${Math.round(rate)} tokens/s): ` +
              `${formatBytes(summary.bytes)} in ${summary.files.length} file(s) → ${options.out}`,
            `columns    ${summary.columns.map((column) => column.name).join(', ')}`,
            ...(summary.nanCe > 0
              ? [
                  `note       ${summary.nanCe} example(s) have a NaN CE (nothing supervised); FuseChat's filter_nan.py drops them, or export with --drop-nan-ce`,
                ]
              : []),
            ...(summary.droppedNanCe > 0
              ? [`dropped    ${summary.droppedNanCe} example(s) with a NaN CE`]
              : []),
            `load with datasets.load_from_disk(${JSON.stringify(options.out)})["train"]; train with FuseChat's train.py --model_max_length ≥ ${summary.maxLength} (docs/guides/scaling-out.md)`,
          ];
          process.stdout.write(`${lines.join('\n')}\n`);
        } finally {
          progress.finish();
        }
      },
    );
}
