import { createHash } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import {
  type CaptureRecord,
  FuseChatError,
  IntegrityError,
  InvalidInputError,
  type ProgressCallback,
} from '@fusechat/core';
import {
  acquireOutputLock,
  commitOutputDirectory,
  outputDirectoryProblems,
  removeStalePartials,
} from '@fusechat/core/node';
import { type DistributionStore, openStore } from '@fusechat/distribution-store';
import { Field, Schema } from 'apache-arrow';
import { ArrowShardWriter } from './arrow-shard-writer.js';
import { arrowTypeOf, exportColumns, featureOf, type HfFeature } from './fusechat-columns.js';
import {
  DEFAULT_SHARD_BYTES,
  dataFileName,
  datasetDictJson,
  datasetInfoJson,
  SPLIT,
  schemaMetadata,
  stateJson,
} from './hf-dataset-files.js';
import { buildRecordBatch, type ExportRow, estimateRowBytes } from './record-batch-builder.js';

/** Options of {@link exportStoreToHfDataset}. */
export interface ExportHfDatasetOptions {
  /** The directory to create: a `datasets` DatasetDict with one split, `train`. */
  readonly out: string;
  /**
   * The pivot store an aligned store was aligned to (required for an aligned store, refused for
   * another): the export then joins both into FuseChat's pairwise-fusion training dataset.
   */
  readonly pivot?: string | undefined;
  /** A data file is closed once it reaches this many bytes (default 500·10⁶, datasets' `max_shard_size`). */
  readonly shardBytes?: number | undefined;
  /** Leave out examples whose `metric_ce` (or `fused_metric_ce`) is NaN, as FuseChat's `filter_nan.py` does. */
  readonly dropNanCe?: boolean | undefined;
  /** Replace an existing `out` (default: refuse it, `OUTPUT_EXISTS`). */
  readonly overwrite?: boolean | undefined;
  /** Cumulative examples written (`task: 'export'`). */
  readonly onProgress?: ProgressCallback | undefined;
  /** Stops between batches; nothing is left at `out`. */
  readonly signal?: AbortSignal | undefined;
}

/** One exported column: its name and its `datasets` feature. */
export interface ExportedColumn {
  readonly name: string;
  readonly feature: HfFeature;
}

/** What {@link exportStoreToHfDataset} wrote. */
export interface ExportHfDatasetSummary {
  readonly out: string;
  /**
   * `representation`: one model's capture (FuseChat's get_data_representation.py output);
   * `pairwise-fusion`: pivot + aligned source, what FuseChat's `train.py --do_fuse` reads.
   */
  readonly kind: 'representation' | 'pairwise-fusion';
  readonly columns: readonly ExportedColumn[];
  readonly examples: number;
  readonly tokens: number;
  /** The longest sequence: FuseChat's trainer needs `--model_max_length` at least this. */
  readonly maxLength: number;
  /** Examples left out by `dropNanCe`. */
  readonly droppedNanCe: number;
  /** Examples written whose CE is NaN (nothing supervised); FuseChat's filter_nan.py drops them. */
  readonly nanCe: number;
  readonly files: readonly { readonly file: string; readonly bytes: number; readonly examples: number }[];
  readonly bytes: number;
  readonly seconds: number;
}

/** Provenance file beside `dataset_dict.json` (ignored by `datasets`). */
export const EXPORT_MANIFEST_FILE = 'fusechat-export.json';

const BATCH_ROWS = 1000; // datasets' DEFAULT_MAX_BATCH_SIZE
const BATCH_BYTES = 16 * 1024 * 1024;

/**
 * Writes a distribution store as a Hugging Face `datasets` directory that FuseChat's own scripts
 * load with `datasets.load_from_disk(dir)["train"]`: `dataset_dict.json`, `train/dataset_info.json`,
 * `train/state.json` and `train/data-0000i-of-0000n.arrow` (Arrow IPC streams, sharded at
 * `shardBytes`). Records are streamed (one batch of at most 1000 examples or ~16 MiB in memory).
 *
 * - An unaligned store gives FuseChat's representation columns: `input_ids`, `attention_mask`,
 *   `labels` (−100 where not supervised), `per_step_logits` (float32: the stored fp16 values
 *   exactly), `per_step_indices`, `metric_ce`, and `per_step_metric_ce` when the store has
 *   next-token log-probabilities.
 * - An aligned store, with `pivot` naming the store it was aligned to, gives the pairwise-fusion
 *   dataset: the pivot's columns plus the source's `fused_per_step_logits`,
 *   `fused_per_step_indices` (a variable number of entries per position) and `fused_metric_ce`.
 *
 * The directory is written beside `out` under a temporary name and renamed at the end, under an
 * output lock; an existing `out` is refused unless `overwrite`.
 *
 * @throws FileFormatError / IntegrityError `STORE_NOT_FOUND`, `STORE_INCOMPLETE`… from the store;
 *   IntegrityError `HF_EXPORT_PIVOT_REQUIRED`, `HF_EXPORT_NOT_ALIGNED`, `HF_EXPORT_PIVOT_MISMATCH`,
 *   `HF_EXPORT_RECORD_MISMATCH`; InvalidInputError `HF_EXPORT_INVALID_OPTION`; the output
 *   directory's `OUTPUT_*` codes.
 *
 * @example
 * ```ts
 * const summary = await exportStoreToHfDataset('run/align/moby/store', {
 *   pivot: 'run/capture/pivot/store',
 *   out: 'export/pivot_moby',
 * });
 * // python: datasets.load_from_disk('export/pivot_moby')['train']
 * ```
 */
export async function exportStoreToHfDataset(
  storePath: string,
  options: ExportHfDatasetOptions,
): Promise<ExportHfDatasetSummary> {
  const started = performance.now();
  const shardBytes = options.shardBytes ?? DEFAULT_SHARD_BYTES;
  if (!Number.isSafeInteger(shardBytes) || shardBytes < 1)
    throw new InvalidInputError(`shardBytes must be a positive integer, got ${shardBytes}.`, {
      code: 'HF_EXPORT_INVALID_OPTION',
      field: 'shardBytes',
    });
  const store = await openStore(storePath, { requireComplete: true });
  let pivot: DistributionStore | undefined;
  try {
    const aligned = store.manifest.identity.aligned;
    if (aligned !== undefined && options.pivot === undefined)
      throw new IntegrityError(
        'HF_EXPORT_PIVOT_REQUIRED',
        `${storePath} is an aligned store: FuseChat trains on the pivot's and the source's distributions together, so pass the pivot store it was aligned to (--pivot).`,
        { details: { store: storePath, pivotStore: aligned.pivotStore } },
      );
    if (aligned === undefined && options.pivot !== undefined)
      throw new IntegrityError(
        'HF_EXPORT_NOT_ALIGNED',
        `${storePath} is not an aligned store, so it takes no --pivot; export it alone, or export the source's aligned store with --pivot ${options.pivot}.`,
        { details: { store: storePath } },
      );
    if (aligned !== undefined && options.pivot !== undefined) {
      pivot = await openStore(options.pivot, { requireComplete: true });
      const pivotManifest = pivot.manifest;
      if (pivotManifest.identity.aligned !== undefined || pivotManifest.contentHash !== aligned.pivotStore)
        throw new IntegrityError(
          'HF_EXPORT_PIVOT_MISMATCH',
          `${storePath} was aligned to the pivot store ${aligned.pivotStore.slice(0, 12)}…, but ${options.pivot} is ${pivotManifest.identity.aligned !== undefined ? 'an aligned store itself' : `the store ${pivotManifest.contentHash.slice(0, 12)}…`}; pass the pivot store named by the aligned store.`,
          { details: { expected: aligned.pivotStore, actual: pivotManifest.contentHash } },
        );
    }
    const problems = await outputDirectoryProblems(options.out, {
      inputs: [storePath, ...(options.pivot === undefined ? [] : [options.pivot])],
      overwrite: options.overwrite ?? false,
    });
    if (problems.length > 0)
      throw new FuseChatError(
        problems[0]!.code,
        problems.length === 1
          ? problems[0]!.message
          : `--out ${options.out} cannot be used:\n${problems.map((p) => `  - ${p.message}`).join('\n')}`,
        { details: { problems } },
      );
    const lock = await acquireOutputLock(options.out);
    try {
      await removeStalePartials(options.out);
      return await writeDataset(store, pivot, { ...options, shardBytes, started });
    } finally {
      await lock.release();
    }
  } finally {
    await Promise.all([store.close(), pivot?.close()]);
  }
}

async function writeDataset(
  store: DistributionStore,
  pivot: DistributionStore | undefined,
  options: ExportHfDatasetOptions & { shardBytes: number; started: number },
): Promise<ExportHfDatasetSummary> {
  const paired = pivot !== undefined;
  const columns = exportColumns({ paired, perStepMetricCe: !paired && store.manifest.hasNextTokenLogProbs });
  const features: Record<string, HfFeature> = {};
  for (const column of columns) features[column.name] = featureOf(column.kind);
  const fingerprint = createHash('sha256')
    .update(
      JSON.stringify({
        store: store.manifest.contentHash,
        pivot: pivot?.manifest.contentHash ?? null,
        columns,
        dropNanCe: options.dropNanCe ?? false,
      }),
    )
    .digest('hex')
    .slice(0, 16);
  const schema = new Schema(
    columns.map((column) => new Field(column.name, arrowTypeOf(column.kind), true)),
    new Map([['huggingface', schemaMetadata(features, fingerprint)]]),
  );

  const out = resolve(options.out);
  const temp = `${out}.partial-${process.pid}`;
  await rm(temp, { recursive: true, force: true });
  const splitDir = join(temp, SPLIT);
  await mkdir(splitDir, { recursive: true });
  const shards: { temp: string; bytes: number; examples: number }[] = [];
  let shard: ArrowShardWriter | undefined;
  let batch: ExportRow[] = [];
  let batchBytes = 0;
  let examples = 0;
  let tokens = 0;
  let maxLength = 0;
  let droppedNanCe = 0;
  let nanCe = 0;
  let seen = 0;

  const flush = async () => {
    if (batch.length === 0) return;
    options.signal?.throwIfAborted();
    if (shard === undefined)
      shard = await ArrowShardWriter.create(join(splitDir, `.shard-${shards.length}.arrow.tmp`), schema);
    await shard.write(buildRecordBatch(schema, columns, batch));
    batch = [];
    batchBytes = 0;
    options.onProgress?.({ task: 'export', completed: seen, total: store.size, unit: 'examples' });
    if (shard.bytes >= options.shardBytes) await closeShard();
  };
  const closeShard = async () => {
    if (shard === undefined) return;
    await shard.close();
    shards.push({ temp: shard.path, bytes: shard.bytes, examples: shard.rows });
    shard = undefined;
  };

  try {
    // A first event, so a progress printer measures its rate from the start.
    options.onProgress?.({ task: 'export', completed: 0, total: store.size, unit: 'examples' });
    for await (const record of store) {
      seen++;
      const row: ExportRow = paired
        ? { record: await pivotRecordOf(pivot, record), fused: record }
        : { record };
      const ceNaN = Number.isNaN(row.record.ce) || (row.fused !== undefined && Number.isNaN(row.fused.ce));
      if (ceNaN && options.dropNanCe) {
        droppedNanCe++;
        continue;
      }
      if (ceNaN) nanCe++;
      batch.push(row);
      batchBytes += estimateRowBytes(columns, row);
      examples++;
      tokens += row.record.inputIds.length;
      maxLength = Math.max(maxLength, row.record.inputIds.length);
      if (batch.length >= BATCH_ROWS || batchBytes >= BATCH_BYTES) await flush();
    }
    await flush();
    if (shard === undefined && shards.length === 0)
      shard = await ArrowShardWriter.create(join(splitDir, '.shard-0.arrow.tmp'), schema);
    await closeShard();

    const files = await Promise.all(
      shards.map(async (entry, index) => {
        const file = dataFileName(index, shards.length);
        await rename(entry.temp, join(splitDir, file));
        return { file, bytes: entry.bytes, examples: entry.examples };
      }),
    );
    const description = paired
      ? `FuseChat pairwise-fusion dataset exported by fusechat: pivot store ${pivot.manifest.contentHash}, aligned source store ${store.manifest.contentHash} (${store.manifest.identity.model.name}).`
      : `FuseChat representation dataset exported by fusechat from store ${store.manifest.contentHash} (${store.manifest.identity.model.name}).`;
    await writeFile(join(splitDir, 'dataset_info.json'), datasetInfoJson({ features, description }));
    await writeFile(
      join(splitDir, 'state.json'),
      stateJson({ files: files.map((entry) => entry.file), fingerprint }),
    );
    await writeFile(join(temp, 'dataset_dict.json'), datasetDictJson());
    const summary: ExportHfDatasetSummary = {
      out: options.out,
      kind: paired ? 'pairwise-fusion' : 'representation',
      columns: columns.map((column) => ({ name: column.name, feature: features[column.name]! })),
      examples,
      tokens,
      maxLength,
      droppedNanCe,
      nanCe,
      files: files.map((entry) => ({ ...entry, file: `${SPLIT}/${entry.file}` })),
      bytes: files.reduce((sum, entry) => sum + entry.bytes, 0),
      seconds: (performance.now() - options.started) / 1000,
    };
    const { seconds: _seconds, out: _out, ...recorded } = summary;
    await writeFile(
      join(temp, EXPORT_MANIFEST_FILE),
      `${JSON.stringify(
        {
          format: 'fusechat-hf-datasets-export',
          version: 1,
          store: { path: resolve(store.dir), contentHash: store.manifest.contentHash },
          pivot:
            pivot === undefined
              ? null
              : { path: resolve(pivot.dir), contentHash: pivot.manifest.contentHash },
          ...recorded,
        },
        null,
        2,
      )}\n`,
    );
    await commitOutputDirectory(temp, out);
    return summary;
  } catch (error) {
    const open = shard as ArrowShardWriter | undefined;
    await open?.abort();
    await rm(temp, { recursive: true, force: true });
    throw error;
  }
}

async function pivotRecordOf(pivot: DistributionStore, aligned: CaptureRecord): Promise<CaptureRecord> {
  // The aligned store is in the pivot store's order, minus flagged examples: the block cache makes
  // these lookups sequential reads.
  const record = await pivot.getById(aligned.id);
  if (record === undefined)
    throw new IntegrityError(
      'HF_EXPORT_RECORD_MISMATCH',
      `The aligned store has example "${aligned.id}" but the pivot store ${pivot.dir} does not; the stores do not belong together.`,
      { details: { id: aligned.id } },
    );
  const same =
    record.inputIds.length === aligned.inputIds.length &&
    record.inputIds.every(
      (id, t) => id === aligned.inputIds[t] && record.labelMask[t] === aligned.labelMask[t],
    );
  if (!same)
    throw new IntegrityError(
      'HF_EXPORT_RECORD_MISMATCH',
      `Example "${aligned.id}" has other pivot tokens or labels in the aligned store than in the pivot store ${pivot.dir}; re-run the alignment against this pivot store.`,
      { details: { id: aligned.id } },
    );
  return record;
}
