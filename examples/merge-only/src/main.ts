import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { loadMergeConfig, type MergeModelsResult, mergeModels } from '@fusechat/merge';
import { stringify } from 'yaml';
import { type TinyFamily, writeTinyFamily } from './tiny-checkpoints.js';

/** FuseChat's final step as a mergekit-style config: VaRM of the targets against the pivot. */
export const VARM_CONFIG = {
  merge_method: 'variation_ratio',
  base_model: './pivot',
  models: [{ model: './target-a' }, { model: './target-b' }],
  dtype: 'float32',
};

/** What {@link runMergeOnly} produced. */
export interface MergeOnlyResult {
  /** The pivot and targets as written (float32, in memory). */
  readonly family: TinyFamily;
  /** The YAML config file the merge read. */
  readonly configPath: string;
  /** `mergeModels`' result; `merge.out` holds the merged checkpoint and `merge-report.json`. */
  readonly merge: MergeModelsResult;
}

/**
 * Builds three tiny llama-style checkpoints in `workDir` (a pivot and two targets), writes
 * `workDir/varm.yml` and merges them into `workDir/fused` with `@fusechat/merge` — no tfjs.
 *
 * @example
 * ```ts
 * const { merge } = await runMergeOnly('/tmp/varm-demo');
 * merge.report.tensors.find((t) => t.name === 'lm_head.weight')?.weights; // e.g. [0.49, 0.51]
 * ```
 */
export async function runMergeOnly(
  workDir: string,
  options: { seed?: number } = {},
): Promise<MergeOnlyResult> {
  const family = await writeTinyFamily(workDir, { seed: options.seed ?? 0 });
  const configPath = join(workDir, 'varm.yml');
  await writeFile(configPath, stringify(VARM_CONFIG));
  // Relative model paths resolve against `cwd` (default process.cwd(), as in mergekit).
  const merge = await mergeModels(await loadMergeConfig(configPath), {
    out: join(workDir, 'fused'),
    cwd: workDir,
  });
  return { family, configPath, merge };
}

/** The per-tensor VaRM weights of a merge report as an aligned text table. */
export function formatWeightTable(merge: MergeModelsResult): string {
  const { report } = merge;
  const nameWidth = Math.max(...report.tensors.map((tensor) => tensor.name.length));
  const header = [
    'tensor'.padEnd(nameWidth),
    ...report.models.map((model) => `mean δ² ${model}`.padStart(20)),
    ...report.models.map((model) => `W ${model}`.padStart(14)),
  ].join('  ');
  const rows = report.tensors.map((tensor) =>
    [
      tensor.name.padEnd(nameWidth),
      ...report.models.map((_, j) =>
        (tensor.changeMeanSquare?.[j] ?? Number.NaN).toExponential(3).padStart(20),
      ),
      ...report.models.map((_, j) => (tensor.weights?.[j] ?? Number.NaN).toFixed(4).padStart(14)),
    ].join('  '),
  );
  return [header, '-'.repeat(header.length), ...rows].join('\n');
}

async function main(): Promise<void> {
  const keep = process.argv.includes('--keep');
  const workDir = await mkdtemp(join(tmpdir(), 'fusechat-merge-only-'));
  try {
    const { configPath, merge } = await runMergeOnly(workDir);
    console.log(`Config (${configPath}):\n\n${stringify(VARM_CONFIG)}`);
    console.log(formatWeightTable(merge));
    console.log(
      `\nMerged ${merge.tensors} tensors in ${merge.seconds.toFixed(2)} s into ${merge.out}` +
        (keep
          ? ' (kept: see merge-report.json and merge-report.svg there)'
          : ' (removed; pass --keep to keep it)'),
    );
  } finally {
    if (!keep) await rm(workDir, { recursive: true, force: true });
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main();
}
