import { type FileHandle, mkdir, open, readdir, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FuseChatError, InvalidInputError, UnknownNameError } from '@fusechat/core';
import { DTYPE_BYTES, type DType } from './dtype.js';
import { fsError, tempPathFor, writeFully } from './io.js';
import {
  coerceTensorData,
  type PlannedTensor,
  serializeHeader,
  validateMetadata,
  validatePlan,
} from './serialize-header.js';
import type { TensorArray } from './tensor-data.js';
import { assertLittleEndianHost, bytesOf } from './typed-arrays.js';

/** Options of {@link createCheckpointWriter}. */
export interface CheckpointWriterOptions {
  /**
   * Largest tensor-data size of one shard, in bytes (default 5 GB = 5·10⁹, as `transformers`).
   * Tensors are never split: one larger than this gets a shard of its own.
   */
  maxShardBytes?: number;
  /** `__metadata__` of every shard; `{ format: 'pt' }` is added unless given (`transformers` checks it). */
  metadata?: Record<string, string>;
  /** File name stem (default `model`): `model.safetensors` or `model-00001-of-00002.safetensors`. */
  filenamePrefix?: string;
  /**
   * Start flushing a shard to disk in the background (`fdatasync`, not awaited) each time this
   * many bytes have been written to it since the last flush, so the disk writes while the caller
   * computes and {@link CheckpointWriter.close}'s final fsync has little left to do. Default: off.
   */
  backgroundSyncBytes?: number;
}

/** A checkpoint being written; see {@link createCheckpointWriter}. */
/** Options of one {@link CheckpointWriter.write}. */
export interface TensorWriteOptions {
  /**
   * Called as the caller's array is consumed, with how many of its bytes the writer no longer
   * needs (the bytes before are in the file or copied away): the caller may reuse that prefix
   * (e.g. read the next tensor into it) before the write finishes. The data is then written in
   * 8 MiB pieces, in order. Converted data (another dtype) is copied first: one call with the
   * whole length.
   */
  readonly onConsumed?: (bytes: number) => void;
}

export interface CheckpointWriter {
  /** Final file names (relative to the directory), known from the plan. */
  readonly shardFiles: string[];
  /**
   * Writes one planned tensor, in any order. Pass the dtype's typed array, or a Float32Array to be
   * converted to the planned dtype. Concurrent writes of different tensors are fine.
   */
  write(name: string, data: TensorArray, options?: TensorWriteOptions): Promise<void>;
  /** Checks every tensor was written, fsyncs, renames the shards into place, then writes the index. */
  close(): Promise<void>;
  /** Discards everything written so far (removes the temp files). Idempotent. */
  abort(): Promise<void>;
}

interface Shard {
  file: string;
  temp: string;
  handle: FileHandle | undefined;
  header: ReturnType<typeof serializeHeader>;
  /** Bytes written since the last background flush started. */
  unsynced: number;
  /** The background flush in flight, if any (its failure resurfaces at close). */
  syncing: Promise<void> | undefined;
}

const DEFAULT_MAX_SHARD_BYTES = 5_000_000_000;

/**
 * Starts writing a Hugging Face checkpoint to `dir` from a plan of every tensor (name, dtype, shape),
 * so headers and offsets are fixed up front and tensor data can stream in one at a time, in any
 * order, without holding the model in memory. Tensors go into shards greedily in plan order.
 * Nothing appears under its final name until {@link CheckpointWriter.close} succeeds:
 * shards are written to hidden temp files, fsynced and renamed, and the
 * `model.safetensors.index.json` (with `metadata.total_size`, when there are several shards)
 * is written last. Weight files of an earlier checkpoint with the same prefix (another shard count,
 * or single vs sharded) are removed then, as `transformers` does, so the directory holds one model;
 * other files are left alone.
 *
 * @example
 * ```ts
 * const writer = await createCheckpointWriter('out', [
 *   { name: 'model.embed_tokens.weight', dtype: 'BF16', shape: [32000, 4096] },
 *   { name: 'lm_head.weight', dtype: 'BF16', shape: [32000, 4096] },
 * ], { maxShardBytes: 2e9 });
 * try {
 *   for (const name of ['lm_head.weight', 'model.embed_tokens.weight'])
 *     await writer.write(name, await mergeTensor(name)); // Float32Array → BF16
 *   await writer.close();
 * } catch (error) {
 *   await writer.abort();
 *   throw error;
 * }
 * ```
 */
export async function createCheckpointWriter(
  dir: string,
  plan: Array<{ name: string; dtype: DType; shape: number[] }>,
  options: CheckpointWriterOptions = {},
): Promise<CheckpointWriter> {
  assertLittleEndianHost();
  if (!Array.isArray(plan))
    throw new InvalidInputError('plan must be an array of { name, dtype, shape }.', {
      code: 'SAFETENSORS_INVALID_PLAN',
      field: 'plan',
    });
  const numels = validatePlan(plan, 'plan');
  const metadata = { format: 'pt', ...validateMetadata(options.metadata, 'options.metadata') };
  const maxShardBytes = options.maxShardBytes ?? DEFAULT_MAX_SHARD_BYTES;
  if (!(maxShardBytes > 0))
    throw new InvalidInputError(`options.maxShardBytes must be a positive number, got ${maxShardBytes}.`, {
      code: 'SAFETENSORS_INVALID_OPTION',
      field: 'options.maxShardBytes',
    });
  const backgroundSyncBytes = options.backgroundSyncBytes ?? Number.POSITIVE_INFINITY;
  if (!(backgroundSyncBytes > 0))
    throw new InvalidInputError(
      `options.backgroundSyncBytes must be a positive number, got ${options.backgroundSyncBytes}.`,
      { code: 'SAFETENSORS_INVALID_OPTION', field: 'options.backgroundSyncBytes' },
    );
  const prefix = options.filenamePrefix ?? 'model';
  if (typeof prefix !== 'string' || prefix === '' || /[/\\]/.test(prefix))
    throw new InvalidInputError(
      `options.filenamePrefix must be a plain file name stem, got ${JSON.stringify(prefix)}.`,
      {
        code: 'SAFETENSORS_INVALID_OPTION',
        field: 'options.filenamePrefix',
      },
    );

  // Greedy grouping in plan order, by tensor-data bytes (headers excluded, as transformers does).
  const groups: number[][] = [[]];
  let groupBytes = 0;
  plan.forEach((tensor, i) => {
    const bytes = numels[i]! * DTYPE_BYTES[tensor.dtype];
    if (groups.at(-1)!.length > 0 && groupBytes + bytes > maxShardBytes) {
      groups.push([]);
      groupBytes = 0;
    }
    groups.at(-1)!.push(i);
    groupBytes += bytes;
  });
  const count = groups.length;
  const pad = (n: number) => String(n).padStart(5, '0');
  const shardFiles = groups.map((_, s) =>
    count === 1 ? `${prefix}.safetensors` : `${prefix}-${pad(s + 1)}-of-${pad(count)}.safetensors`,
  );

  try {
    await mkdir(dir, { recursive: true });
  } catch (error) {
    throw fsError(error, 'create directory', dir);
  }
  const location = new Map<string, { shard: Shard; index: number; position: number; plan: PlannedTensor }>();
  const shards: Shard[] = [];
  try {
    for (let s = 0; s < count; s++) {
      const members = groups[s]!;
      const header = serializeHeader(
        members.map((i) => plan[i]!),
        members.map((i) => numels[i]!),
        metadata,
      );
      const shard: Shard = {
        file: shardFiles[s]!,
        temp: tempPathFor(join(dir, shardFiles[s]!)),
        handle: undefined,
        header,
        unsynced: 0,
        syncing: undefined,
      };
      shards.push(shard);
      shard.handle = await open(shard.temp, 'wx');
      await writeFully(shard.handle, header.bytes, 0);
      await shard.handle.truncate(header.fileSize);
      members.forEach((i, k) => {
        location.set(plan[i]!.name, { shard, index: i, position: header.dataOffsets[k]!, plan: plan[i]! });
      });
    }
  } catch (error) {
    await discard(shards);
    throw fsError(error, 'create shard files in', dir);
  }
  return new StreamingCheckpointWriter(dir, prefix, shards, location, numels, backgroundSyncBytes);
}

class StreamingCheckpointWriter implements CheckpointWriter {
  readonly shardFiles: string[];
  readonly #written = new Set<string>();
  readonly #inFlight = new Set<string>();
  #state: 'open' | 'closing' | 'closed' | 'aborted' = 'open';

  constructor(
    readonly dir: string,
    readonly prefix: string,
    private readonly shards: Shard[],
    private readonly location: Map<
      string,
      { shard: Shard; index: number; position: number; plan: PlannedTensor }
    >,
    private readonly numels: number[],
    private readonly backgroundSyncBytes: number,
  ) {
    this.shardFiles = shards.map((shard) => shard.file);
  }

  async write(name: string, data: TensorArray, options: TensorWriteOptions = {}): Promise<void> {
    this.#assertOpen(`write tensor "${name}"`);
    const where = this.location.get(name);
    if (!where) {
      const names = [...this.location.keys()];
      const error = new UnknownNameError(
        'tensor',
        name,
        names.length > 30 ? [...names.slice(0, 30), `… ${names.length - 30} more`] : names,
        { code: 'SAFETENSORS_TENSOR_NOT_PLANNED' },
      );
      error.message = `Cannot write to ${this.dir}: the plan has no such tensor. ${error.message}`;
      throw error;
    }
    if (this.#written.has(name) || this.#inFlight.has(name))
      throw new InvalidInputError(
        `Tensor "${name}" was already written to ${this.dir}; each tensor is written once.`,
        {
          code: 'SAFETENSORS_ALREADY_WRITTEN',
          field: name,
        },
      );
    const values = coerceTensorData(data, where.plan, this.numels[where.index]!, `data of "${name}"`);
    this.#inFlight.add(name);
    try {
      const bytes = bytesOf(values);
      const onConsumed = options.onConsumed;
      if (onConsumed !== undefined && values !== data) onConsumed(bytesOf(data).byteLength);
      await writeFully(
        where.shard.handle!,
        bytes,
        where.position,
        onConsumed === undefined || values !== data ? undefined : onConsumed,
      );
      this.#written.add(name);
      this.#maybeFlush(where.shard, bytes.byteLength);
    } catch (error) {
      throw fsError(error, `write tensor "${name}" to`, join(this.dir, where.shard.file));
    } finally {
      this.#inFlight.delete(name);
    }
  }

  async close(): Promise<void> {
    this.#assertOpen('close the checkpoint');
    if (this.#inFlight.size > 0)
      throw new FuseChatError(
        'SAFETENSORS_WRITES_IN_FLIGHT',
        `Cannot close ${this.dir} while ${this.#inFlight.size} write(s) are still running; await every write() first.`,
        { details: { path: this.dir, tensors: [...this.#inFlight] } },
      );
    const missing = [...this.location.keys()].filter((name) => !this.#written.has(name));
    if (missing.length > 0)
      throw new InvalidInputError(
        `Cannot close ${this.dir}: ${missing.length} planned tensor(s) were never written: ${missing
          .slice(0, 20)
          .join(', ')}${missing.length > 20 ? ', …' : ''}. Write them, or abort().`,
        { code: 'SAFETENSORS_MISSING_TENSORS', details: { missing } },
      );
    this.#state = 'closing';
    try {
      for (const shard of this.shards) {
        await shard.syncing;
        await shard.handle!.sync();
        await shard.handle!.close();
        shard.handle = undefined;
      }
      const indexFile = `${this.prefix}.safetensors.index.json`;
      // A stale index would make readers prefer the previous checkpoint's shards: drop it first.
      if (this.shards.length === 1) await rm(join(this.dir, indexFile), { force: true });
      for (const shard of this.shards) await rename(shard.temp, join(this.dir, shard.file));
      if (this.shards.length > 1) await this.#writeIndex();
      await removeStaleWeights(this.dir, this.prefix, new Set([...this.shardFiles, indexFile]));
      this.#state = 'closed';
    } catch (error) {
      this.#state = 'aborted';
      await discard(this.shards);
      throw fsError(error, 'finish checkpoint', this.dir);
    }
  }

  async abort(): Promise<void> {
    if (this.#state === 'closed' || this.#state === 'aborted') return;
    this.#state = 'aborted';
    await discard(this.shards);
  }

  /** Starts a background flush of `shard` once enough bytes are waiting (one flush at a time). */
  #maybeFlush(shard: Shard, bytes: number): void {
    shard.unsynced += bytes;
    if (shard.unsynced < this.backgroundSyncBytes || shard.syncing !== undefined) return;
    shard.unsynced = 0;
    const handle = shard.handle!;
    const flush = handle.datasync().finally(() => {
      if (shard.syncing === flush) shard.syncing = undefined;
    });
    // Not awaited here: close() awaits it (and sees its error); never an unhandled rejection.
    flush.catch(() => undefined);
    shard.syncing = flush;
  }

  async #writeIndex(): Promise<void> {
    let totalSize = 0;
    const entries: Array<[string, string]> = [];
    for (const [name, where] of this.location) entries.push([name, where.shard.file]);
    for (const shard of this.shards) totalSize += shard.header.byteLengths.reduce((a, b) => a + b, 0);
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    // Same shape as transformers' save_pretrained: sorted keys, two-space indent.
    const index = { metadata: { total_size: totalSize }, weight_map: Object.fromEntries(entries) };
    const path = join(this.dir, `${this.prefix}.safetensors.index.json`);
    const temp = tempPathFor(path);
    try {
      await writeFile(temp, `${JSON.stringify(index, null, 2)}\n`, { flag: 'wx' });
      await rename(temp, path);
    } catch (error) {
      await unlink(temp).catch(() => {});
      throw error;
    }
  }

  #assertOpen(action: string): void {
    if (this.#state !== 'open')
      throw new FuseChatError(
        'SAFETENSORS_WRITER_CLOSED',
        `Cannot ${action}: the checkpoint writer for ${this.dir} is already ${this.#state}.`,
        { details: { path: this.dir } },
      );
  }
}

async function discard(shards: Shard[]): Promise<void> {
  for (const shard of shards) {
    await shard.syncing?.catch(() => {});
    await shard.handle?.close().catch(() => {});
    shard.handle = undefined;
    await unlink(shard.temp).catch(() => {});
  }
}

/**
 * Removes weight files of an earlier checkpoint with the same prefix (another shard count, or
 * single vs sharded), as `transformers`' save_pretrained does, so the directory holds one model.
 */
async function removeStaleWeights(dir: string, prefix: string, keep: ReadonlySet<string>): Promise<void> {
  const escaped = prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const weightFile = new RegExp(`^${escaped}(-\\d{5}-of-\\d{5})?\\.safetensors(\\.index\\.json)?$`);
  for (const name of await readdir(dir))
    if (weightFile.test(name) && !keep.has(name)) await rm(join(dir, name), { force: true });
}
