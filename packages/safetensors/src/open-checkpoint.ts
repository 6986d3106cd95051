import { readdir, readFile, stat } from 'node:fs/promises';
import { isAbsolute, join, normalize, sep } from 'node:path';
import { FileFormatError, FuseChatError } from '@fusechat/core';
import { fsError } from './io.js';
import { openSafetensors, type SafetensorsFile, tensorNotFound } from './open-safetensors.js';
import type { TensorData, TensorInfo } from './tensor-data.js';

/** A tensor of a checkpoint, with the file (relative to the checkpoint directory) that holds it. */
export type CheckpointTensorInfo = TensorInfo & { file: string };

/** A Hugging Face checkpoint directory: one `model.safetensors` or shards plus an index. */
export interface Checkpoint {
  readonly dir: string;
  /** Every tensor of every shard (shards in file-name order, header order within a shard). */
  readonly tensors: ReadonlyMap<string, CheckpointTensorInfo>;
  /**
   * The `__metadata__` of the (first) safetensors file, overlaid with the index's `metadata`
   * (numbers such as `total_size` as decimal strings).
   */
  readonly metadata: Record<string, string>;
  readTensor(name: string): Promise<TensorData>;
  readFloat32(name: string): Promise<Float32Array>;
  readRaw(name: string): Promise<Uint8Array>;
  /** Closes every shard. Idempotent. */
  close(): Promise<void>;
}

/** Options of {@link openCheckpoint}. */
export interface OpenCheckpointOptions {
  /** File name stem: `<prefix>.safetensors` or `<prefix>.safetensors.index.json`. Default `model`. */
  filenamePrefix?: string;
}

/**
 * Opens a checkpoint directory. With `model.safetensors.index.json` present, its shards are opened
 * and cross-checked: every indexed file must exist, and the index's tensor names must equal the
 * union of the shards' (each tensor in exactly the shard the index names). Otherwise
 * `model.safetensors` is opened. Every header is validated as by {@link openSafetensors}.
 *
 * @throws FuseChatError `SAFETENSORS_CHECKPOINT_NOT_FOUND`, FileFormatError `SAFETENSORS_INDEX_*`,
 *   or any error of `openSafetensors`.
 * @example
 * ```ts
 * const checkpoint = await openCheckpoint('models/Qwen2-0.5B');
 * try {
 *   const embeddings = await checkpoint.readFloat32('model.embed_tokens.weight');
 * } finally {
 *   await checkpoint.close();
 * }
 * ```
 */
export async function openCheckpoint(dir: string, options: OpenCheckpointOptions = {}): Promise<Checkpoint> {
  const prefix = options.filenamePrefix ?? 'model';
  const indexPath = join(dir, `${prefix}.safetensors.index.json`);
  const singlePath = join(dir, `${prefix}.safetensors`);
  try {
    if (!(await stat(dir)).isDirectory())
      throw new FuseChatError('SAFETENSORS_CHECKPOINT_NOT_FOUND', `${dir} is not a directory.`, {
        details: { path: dir },
      });
  } catch (error) {
    if (error instanceof FuseChatError) throw error;
    throw new FuseChatError(
      'SAFETENSORS_CHECKPOINT_NOT_FOUND',
      `Checkpoint directory ${dir} does not exist.`,
      {
        cause: error,
        details: { path: dir },
      },
    );
  }
  if (await exists(indexPath)) return openSharded(dir, indexPath);
  if (await exists(singlePath)) {
    const file = await openSafetensors(singlePath);
    const relative = `${prefix}.safetensors`;
    return new OpenCheckpoint(dir, new Map([[relative, file]]), withFile(file, relative), {
      ...file.metadata,
    });
  }
  const found = (await readdir(dir)).filter((name) => name.endsWith('.safetensors'));
  throw new FuseChatError(
    'SAFETENSORS_CHECKPOINT_NOT_FOUND',
    `${dir} has neither ${prefix}.safetensors nor ${prefix}.safetensors.index.json${
      found.length > 0 ? ` (it has ${found.slice(0, 5).join(', ')}${found.length > 5 ? ', …' : ''})` : ''
    }; point at a Hugging Face model directory${found.length > 0 ? ' or pass filenamePrefix' : ''}.`,
    { details: { path: dir, found } },
  );
}

async function openSharded(dir: string, indexPath: string): Promise<Checkpoint> {
  const invalid = (code: string, message: string, extra: { tensorName?: string } = {}): FileFormatError =>
    new FileFormatError(code, `${indexPath}: ${message}`, { path: indexPath, ...extra });
  let index: unknown;
  try {
    index = JSON.parse(await readFile(indexPath, 'utf8'));
  } catch (error) {
    if (error instanceof SyntaxError)
      throw new FileFormatError(
        'SAFETENSORS_INDEX_INVALID',
        `${indexPath} is not valid JSON (${error.message}); regenerate or re-download it.`,
        { path: indexPath, cause: error },
      );
    throw fsError(error, 'read', indexPath);
  }
  const weightMap = (index as { weight_map?: unknown } | null)?.weight_map;
  if (!isPlainObject(index) || !isPlainObject(weightMap))
    throw invalid(
      'SAFETENSORS_INDEX_INVALID',
      'expected an object with a "weight_map" object of tensor → file.',
    );
  const indexMetadata = (index as { metadata?: unknown }).metadata ?? {};
  if (!isPlainObject(indexMetadata))
    throw invalid('SAFETENSORS_INDEX_INVALID', '"metadata" must be an object when present.');

  const shardNames: string[] = [];
  for (const [name, file] of Object.entries(weightMap)) {
    if (
      typeof file !== 'string' ||
      file === '' ||
      isAbsolute(file) ||
      normalize(file).split(sep).includes('..')
    )
      throw invalid(
        'SAFETENSORS_INDEX_INVALID',
        `tensor "${name}" maps to ${JSON.stringify(file)}; shard files must be relative paths inside the checkpoint directory.`,
        { tensorName: name },
      );
    if (!shardNames.includes(file)) shardNames.push(file);
  }
  shardNames.sort();

  const files = new Map<string, SafetensorsFile>();
  const tensors = new Map<string, CheckpointTensorInfo>();
  try {
    for (const shard of shardNames) {
      const shardPath = join(dir, shard);
      if (!(await exists(shardPath)))
        throw new FileFormatError(
          'SAFETENSORS_INDEX_MISSING_SHARD',
          `${indexPath} lists shard ${shard}, which is not in ${dir}; the download is incomplete.`,
          { path: indexPath, details: { shard } },
        );
      const file = await openSafetensors(shardPath);
      files.set(shard, file);
      for (const [name, info] of withFile(file, shard)) {
        const other = tensors.get(name);
        if (other)
          throw new FileFormatError(
            'SAFETENSORS_DUPLICATE_TENSOR',
            `tensor "${name}" is in two shards, ${other.file} and ${shard}; the checkpoint is inconsistent.`,
            { path: shardPath, tensorName: name, offset: info.dataOffset },
          );
        const indexed = weightMap[name];
        if (indexed === undefined)
          throw invalid(
            'SAFETENSORS_INDEX_MISMATCH',
            `shard ${shard} holds tensor "${name}", which the index does not list; regenerate the index.`,
            { tensorName: name },
          );
        if (indexed !== shard)
          throw invalid(
            'SAFETENSORS_INDEX_MISMATCH',
            `the index puts tensor "${name}" in ${String(indexed)} but it is in ${shard}; regenerate the index.`,
            { tensorName: name },
          );
        tensors.set(name, info);
      }
    }
    for (const name of Object.keys(weightMap))
      if (!tensors.has(name))
        throw invalid(
          'SAFETENSORS_INDEX_MISMATCH',
          `the index lists tensor "${name}" in ${String(weightMap[name])}, but that shard does not hold it.`,
          { tensorName: name },
        );
  } catch (error) {
    await Promise.all([...files.values()].map((file) => file.close().catch(() => {})));
    throw error;
  }
  const metadata: Record<string, string> = { ...(files.get(shardNames[0]!)?.metadata ?? {}) };
  for (const [key, value] of Object.entries(indexMetadata))
    metadata[key] = typeof value === 'string' ? value : JSON.stringify(value);
  return new OpenCheckpoint(dir, files, tensors, metadata);
}

class OpenCheckpoint implements Checkpoint {
  readonly #files: ReadonlyMap<string, SafetensorsFile>;

  constructor(
    readonly dir: string,
    files: ReadonlyMap<string, SafetensorsFile>,
    readonly tensors: ReadonlyMap<string, CheckpointTensorInfo>,
    readonly metadata: Record<string, string>,
  ) {
    this.#files = files;
  }

  #fileOf(name: string): SafetensorsFile {
    const info = this.tensors.get(name);
    if (!info) throw tensorNotFound(name, this.tensors, this.dir);
    return this.#files.get(info.file)!;
  }

  async readRaw(name: string): Promise<Uint8Array> {
    return this.#fileOf(name).readRaw(name);
  }

  async readTensor(name: string): Promise<TensorData> {
    return this.#fileOf(name).readTensor(name);
  }

  async readFloat32(name: string): Promise<Float32Array> {
    return this.#fileOf(name).readFloat32(name);
  }

  async close(): Promise<void> {
    await Promise.all([...this.#files.values()].map((file) => file.close()));
  }
}

function withFile(file: SafetensorsFile, relativePath: string): Map<string, CheckpointTensorInfo> {
  const result = new Map<string, CheckpointTensorInfo>();
  for (const [name, info] of file.tensors) result.set(name, { ...info, file: relativePath });
  return result;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
