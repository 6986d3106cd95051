import { createConsoleLogger, createProgressPrinter, formatBytes, InvalidInputError } from '@fusechat/core';
import { type Command, Option } from 'commander';
import { backendOption } from '../options/backend-option.js';
import { resolveModelOption } from '../options/model-reference.js';

const SIZE_UNITS: Readonly<Record<string, number>> = {
  '': 1,
  b: 1,
  k: 1e3,
  kb: 1e3,
  m: 1e6,
  mb: 1e6,
  g: 1e9,
  gb: 1e9,
  t: 1e12,
  tb: 1e12,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
};

/**
 * Parses a byte size such as `5GB`, `500MB`, `2GiB` or `1000000`.
 *
 * @example
 * ```ts
 * parseByteSize('5GB'); // 5_000_000_000
 * ```
 */
export function parseByteSize(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const unit = match ? SIZE_UNITS[match[2]!.toLowerCase()] : undefined;
  if (!match || unit === undefined || Number(match[1]) * unit < 1) {
    throw new InvalidInputError(`--max-shard-size: "${text}" is not a size; write e.g. 5GB, 500MB or 2GiB.`, {
      code: 'CLI_INVALID_SIZE',
      field: 'max-shard-size',
    });
  }
  return Math.floor(Number(match[1]) * unit);
}

/**
 * `fusechat merge CONFIG.yml --out DIR`: merges checkpoints as a mergekit-style config says,
 * after a preflight that reports every problem at once.
 *
 * @example
 * ```ts
 * const program = new Command('fusechat');
 * registerMergeCommand(program);
 * await program.parseAsync(['merge', 'varm.yml', '--out', 'fused'], { from: 'user' });
 * ```
 */
export function registerMergeCommand(program: Command): void {
  program
    .command('merge')
    .description(
      'Merge Hugging Face checkpoints as a mergekit-style YAML config says (variation_ratio, task_arithmetic, ties, dare_linear, dare_ties, sce, slerp, linear).',
    )
    .argument('<config>', 'merge config (YAML, mergekit format)')
    .requiredOption('--out <dir>', 'output directory (refused if it exists, unless --overwrite)')
    .option('--overwrite', 'replace an existing output directory once the new one is complete', false)
    .option('--max-shard-size <size>', 'largest output shard, e.g. 5GB, 500MB, 2GiB', '5GB')
    .option(
      '--no-prefetch',
      'read, merge and write strictly one after the other (no overlap of I/O with math; same memory)',
    )
    .option('--workers <count>', 'worker threads merging tensors in parallel (built-in methods)', '0')
    .addOption(
      new Option('--kernels <kind>', 'hot loops as WebAssembly SIMD (bit-identical) or plain JS')
        .choices(['wasm', 'js'])
        .default('wasm'),
    )
    .addOption(backendOption())
    .action(
      async (
        configPath: string,
        options: {
          out: string;
          overwrite: boolean;
          maxShardSize: string;
          prefetch: boolean;
          workers: string;
          kernels: 'wasm' | 'js';
          backend: string;
        },
      ) => {
        const maxShardBytes = parseByteSize(options.maxShardSize);
        const workers = Number(options.workers);
        if (!Number.isInteger(workers) || workers < 0 || workers > 64) {
          throw new InvalidInputError(`--workers: "${options.workers}" is not a thread count (0–64).`, {
            code: 'CLI_INVALID_WORKERS',
            field: 'workers',
          });
        }
        // Loaded on use: registering the command (and --help, --version) does not load it.
        const { loadMergeConfig, mergeModels } = await import('@fusechat/merge');
        const config = await loadMergeConfig(configPath);
        const progress = createProgressPrinter();
        try {
          const result = await mergeModels(config, {
            out: options.out,
            overwrite: options.overwrite,
            maxShardBytes,
            prefetch: options.prefetch,
            workers,
            kernels: options.kernels,
            // Models named by Hugging Face id come from the HF cache (downloaded when missing).
            resolveModel: async (reference, { baseDir }) =>
              (await resolveModelOption(reference, 'models', { resolve: { baseDir } })).dir,
            onProgress: progress,
            logger: createConsoleLogger({ prefix: 'fusechat: ' }),
          });
          progress.finish();
          process.stdout.write(
            `merged ${result.tensors} tensors (${formatBytes(result.inputBytes)} read, ${formatBytes(result.outputBytes)} written) into ${result.out} in ${result.seconds.toFixed(1)} s; report: merge-report.json\n`,
          );
        } finally {
          progress.finish();
        }
      },
    );
}
