import { createHash, type Hash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { mkdir, readdir, readFile, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { type CaptureRecord, FuseChatError, IntegrityError, InvalidInputError } from '@fusechat/core';
import { acquireOutputLock, type OutputLock } from '@fusechat/core/node';
import { bitWidth } from './bit-packing.js';
import { BlockEncoder, type BlockLayout, type IdCoding } from './block-codec.js';
import { compressBlock } from './compression.js';
import { fsError, nodeFileSystem, type StoreFileSystem, tempPathFor, writeFileAtomic } from './io.js';
import { type BlockEntry, decodeShardIndex, encodeShardIndex, idHash, SHARD_MAGIC } from './shard-index.js';
import { indexFileName, isStoreFile, isTempFile, shardFileName } from './store-files.js';
import { describeDifferences, exactDifferences, type StoreIdentity } from './store-identity.js';
import {
  computeContentHash,
  MANIFEST_FILE,
  parseStoreManifest,
  STORE_FORMAT_NAME,
  STORE_FORMAT_VERSION,
  type StoreCompression,
  type StoreManifest,
  serializeManifest,
  type ValueEncoding,
} from './store-manifest.js';
import { validateRecord } from './validate-record.js';

/** Options of {@link createStoreWriter}. Every one but `fileSystem` is recorded in the manifest. */
export interface StoreWriterOptions {
  identity: StoreIdentity;
  /** Entries per row (rows may hold fewer: aligned stores). */
  k: number;
  /** `fp16` (default): values reproduced bit for bit after fp16 rounding. `quantized`: lossy, smaller. */
  valueEncoding?: ValueEncoding;
  /** Grid step of the quantized encoding, in logits (default 1/8: mean KL ≈ 2·10⁻⁴ at k = 10). */
  quantizationStep?: number;
  /** Whether records carry `nextTokenLogProbs` (stored as fp16). */
  nextTokenLogProbs: boolean;
  /** Block compressor (default `brotli`). `none` also switches ids to fixed-width bit packing. */
  compression?: StoreCompression;
  /** A shard is committed once its compressed size reaches this (default 32 MiB). */
  shardTargetBytes?: number;
  /** A block closes at this many examples (default 64)… */
  blockExamples?: number;
  /** …or at this many uncompressed bytes (default 256 KiB), whichever comes first. */
  blockTargetBytes?: number;
  /** File operations (tests inject failures here). */
  fileSystem?: StoreFileSystem;
}

/** An append-only writer of a store; see {@link createStoreWriter}. */
export interface StoreWriter {
  /** The caller's input cursor after the last committed record or flag (0 for a new store). */
  readonly cursor: number;
  /** Records committed to disk (a resumed writer starts here). */
  readonly committedExamples: number;
  /** The store manifest as last committed. */
  readonly manifest: StoreManifest;
  /** Adds a record; `cursor` is the caller's input position after it (non-decreasing). */
  append(record: CaptureRecord, options: { cursor: number }): Promise<void>;
  /** Records an example that is not stored as valid (NaN logits…), listed in `manifest.flagged`. */
  flag(id: string, reason: string, options: { cursor: number }): Promise<void>;
  /** Commits the tail shard, marks the store complete and writes the manifest last. */
  finish(): Promise<StoreManifest>;
  /** Drops uncommitted work (removes temp files); the store stays resumable. Idempotent. */
  abort(): Promise<void>;
}

const DEFAULTS = {
  valueEncoding: 'fp16' as ValueEncoding,
  quantizationStep: 1 / 8,
  compression: 'brotli' as StoreCompression,
  shardTargetBytes: 32 * 1024 * 1024,
  blockExamples: 64,
  blockTargetBytes: 256 * 1024,
};

interface OpenShard {
  index: number;
  temp: string;
  handle: FileHandle;
  hash: Hash;
  bytes: number;
  blocks: BlockEntry[];
}

/**
 * Creates a store in `dir`, or resumes the incomplete store there. Records are appended in
 * order; a shard is committed (data file, then its index, then the manifest, each by temp file +
 * fsync + rename) when its compressed size reaches `shardTargetBytes`, and at `finish`. Block and
 * shard boundaries depend only on the records, so a writer killed at any point and resumed (skip
 * the first `writer.cursor` inputs, append the rest) produces byte-identical files.
 *
 * Refuses: a store with a different identity or options (IntegrityError `STORE_IDENTITY_MISMATCH`,
 * `details.fields`), a complete store (`STORE_ALREADY_COMPLETE`: open it with `openStore`), a
 * directory with other files (`STORE_DIRECTORY_NOT_EMPTY`). File system failures (full disk,
 * read-only directory) are FuseChatErrors (`STORE_DISK_FULL`, `STORE_PERMISSION_DENIED`,
 * `STORE_IO_ERROR`) that leave the store resumable.
 *
 * @example
 * ```ts
 * const writer = await createStoreWriter('stores/llama', { identity, k: 10, nextTokenLogProbs: true });
 * let index = 0;
 * for await (const example of examples) {
 *   if (index++ < writer.cursor) continue; // resume: skip what is committed
 *   const record = await captureOne(example);
 *   if (record.ok) await writer.append(record.value, { cursor: index });
 *   else await writer.flag(example.id, 'NaN logits', { cursor: index });
 * }
 * const manifest = await writer.finish();
 * ```
 */
export async function createStoreWriter(dir: string, options: StoreWriterOptions): Promise<StoreWriter> {
  const settings = normaliseOptions(options);
  const fs = options.fileSystem ?? nodeFileSystem;
  try {
    await mkdir(dir, { recursive: true });
  } catch (error) {
    throw fsError(error, 'create the store directory', dir);
  }
  // One writer per store at a time: a second capture into the same directory fails clearly
  // (OUTPUT_LOCKED) instead of interleaving shards; a dead writer's lock is taken over.
  const lock = await acquireOutputLock(dir);
  try {
    return await openWriter(dir, settings, fs, lock);
  } catch (error) {
    await lock.release();
    throw error;
  }
}

async function openWriter(
  dir: string,
  settings: Settings,
  fs: StoreFileSystem,
  lock: OutputLock,
): Promise<StoreWriter> {
  const manifestPath = join(dir, MANIFEST_FILE);
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch (error) {
    throw fsError(error, 'list', dir);
  }
  const fresh = blankManifest(settings);
  let manifest: StoreManifest;
  const committedIds = new Set<string>();
  if (entries.includes(MANIFEST_FILE)) {
    manifest = parseStoreManifest(await readFile(manifestPath, 'utf8'), manifestPath);
    if (manifest.complete)
      throw new IntegrityError(
        'STORE_ALREADY_COMPLETE',
        `${dir} already holds a complete store (${manifest.examples} examples); open it with openStore, or write to another directory.`,
        { details: { dir, examples: manifest.examples } },
      );
    const differences = exactDifferences(settingsOf(manifest), settingsOf(fresh));
    if (differences.length > 0)
      throw new IntegrityError(
        'STORE_IDENTITY_MISMATCH',
        `${dir} holds an incomplete store made with other settings: ${describeDifferences(differences)}. Resume with the same model, data and options, or write to another directory.`,
        { details: { dir, fields: differences.map((d) => d.field), differences } },
      );
    for (const shard of manifest.shards) {
      const dataPath = join(dir, shard.file);
      const indexPath = join(dir, shard.indexFile);
      const [dataSize, indexBytes] = await Promise.all([
        stat(dataPath).then(
          (s) => s.size,
          () => -1,
        ),
        readFile(indexPath).catch(() => undefined),
      ]);
      if (dataSize !== shard.bytes || indexBytes === undefined || indexBytes.length !== shard.indexBytes)
        throw new FuseChatError(
          'STORE_SHARD_TRUNCATED',
          `${dataPath}: committed shard is missing or has the wrong size (${dataSize} bytes, manifest says ${shard.bytes}); the store is damaged: write to a new directory.`,
          { details: { path: dataPath } },
        );
      let index: ReturnType<typeof decodeShardIndex>;
      try {
        index = decodeShardIndex(indexBytes, shard.bytes, shard.examples);
      } catch (error) {
        throw new FuseChatError('STORE_INDEX_MALFORMED', `${indexPath} ${(error as Error).message}`, {
          cause: error,
          details: { path: indexPath },
        });
      }
      for (let at = 0; at < index.examples; at++)
        committedIds.add(index.idHashes.subarray(at * 8, at * 8 + 8).toString('hex'));
    }
    // Leftovers of a killed writer: temp files, and shards renamed before their manifest was.
    const listed = new Set(manifest.shards.flatMap((s) => [s.file, s.indexFile]));
    for (const name of entries)
      if (isTempFile(name) || (isStoreFile(name) && name !== MANIFEST_FILE && !listed.has(name)))
        await unlink(join(dir, name)).catch((error) => {
          throw fsError(error, 'remove the leftover file', join(dir, name));
        });
  } else {
    const foreign = entries.filter((name) => !isStoreFile(name));
    if (foreign.length > 0)
      throw new InvalidInputError(
        `${dir} is not empty and holds no store (found ${foreign.slice(0, 3).join(', ')}${foreign.length > 3 ? ', …' : ''}); choose an empty or new directory.`,
        { code: 'STORE_DIRECTORY_NOT_EMPTY', details: { dir } },
      );
    for (const name of entries) await unlink(join(dir, name)).catch(() => {});
    manifest = fresh;
    await writeFileAtomic(manifestPath, serializeManifest(manifest), fs);
  }
  return new Writer(dir, manifest, settings, fs, committedIds, lock);
}

type Settings = Required<Omit<StoreWriterOptions, 'fileSystem'>> & { idCoding: IdCoding };

function normaliseOptions(options: StoreWriterOptions): Settings {
  const invalid = (field: string, message: string) =>
    new InvalidInputError(`createStoreWriter: ${field} ${message}`, { code: 'STORE_INVALID_OPTION', field });
  const { identity } = options;
  if (identity === null || typeof identity !== 'object') throw invalid('identity', 'is required');
  if (!Number.isSafeInteger(identity.tokenizer?.vocabSize) || identity.tokenizer.vocabSize < 1)
    throw invalid('identity.tokenizer.vocabSize', 'must be a positive integer');
  if (!Number.isInteger(options.k) || options.k < 1 || options.k > 65_535)
    throw invalid('k', `must be an integer in [1, 65535], got ${options.k}`);
  if (typeof options.nextTokenLogProbs !== 'boolean')
    throw invalid('nextTokenLogProbs', 'must be true or false');
  const settings = {
    identity: JSON.parse(JSON.stringify(identity)) as StoreIdentity,
    k: options.k,
    nextTokenLogProbs: options.nextTokenLogProbs,
    valueEncoding: options.valueEncoding ?? DEFAULTS.valueEncoding,
    quantizationStep: options.quantizationStep ?? DEFAULTS.quantizationStep,
    compression: options.compression ?? DEFAULTS.compression,
    shardTargetBytes: options.shardTargetBytes ?? DEFAULTS.shardTargetBytes,
    blockExamples: options.blockExamples ?? DEFAULTS.blockExamples,
    blockTargetBytes: options.blockTargetBytes ?? DEFAULTS.blockTargetBytes,
    idCoding: (options.compression ?? DEFAULTS.compression) === 'none' ? 'bitpacked' : 'varint',
  } satisfies Settings;
  if (settings.valueEncoding !== 'fp16' && settings.valueEncoding !== 'quantized')
    throw invalid(
      'valueEncoding',
      `must be "fp16" or "quantized", got ${JSON.stringify(settings.valueEncoding)}`,
    );
  if (!['brotli', 'deflate', 'none'].includes(settings.compression))
    throw invalid(
      'compression',
      `must be "brotli", "deflate" or "none", got ${JSON.stringify(settings.compression)}`,
    );
  if (!(settings.quantizationStep > 0) || !Number.isFinite(settings.quantizationStep))
    throw invalid('quantizationStep', 'must be a positive number');
  for (const name of ['shardTargetBytes', 'blockExamples', 'blockTargetBytes'] as const)
    if (!Number.isSafeInteger(settings[name]) || settings[name] < 1)
      throw invalid(name, 'must be a positive integer');
  return settings;
}

function blankManifest(settings: Settings): StoreManifest {
  const base: Omit<StoreManifest, 'contentHash'> = {
    format: STORE_FORMAT_NAME,
    formatVersion: STORE_FORMAT_VERSION,
    identity: settings.identity,
    k: settings.k,
    valueEncoding: settings.valueEncoding,
    quantizationStep: settings.valueEncoding === 'quantized' ? settings.quantizationStep : null,
    hasNextTokenLogProbs: settings.nextTokenLogProbs,
    vocabSize: settings.identity.tokenizer.vocabSize,
    idBits: bitWidth(settings.identity.tokenizer.vocabSize),
    countBits: bitWidth(settings.k + 1),
    idCoding: settings.idCoding,
    compression: settings.compression,
    blockExamples: settings.blockExamples,
    blockTargetBytes: settings.blockTargetBytes,
    shardTargetBytes: settings.shardTargetBytes,
    examples: 0,
    tokens: 0,
    supervisedTokens: 0,
    flagged: [],
    shards: [],
    cursor: 0,
    complete: false,
  };
  return { ...base, contentHash: computeContentHash(base) };
}

/** The manifest fields a resumed writer must agree on. */
function settingsOf(manifest: StoreManifest) {
  const { identity, k, valueEncoding, quantizationStep, hasNextTokenLogProbs, compression, idCoding } =
    manifest;
  const { blockExamples, blockTargetBytes, shardTargetBytes, formatVersion } = manifest;
  return {
    identity,
    k,
    valueEncoding,
    quantizationStep,
    nextTokenLogProbs: hasNextTokenLogProbs,
    compression,
    idCoding,
    blockExamples,
    blockTargetBytes,
    shardTargetBytes,
    formatVersion,
  };
}

class Writer implements StoreWriter {
  private state: 'open' | 'finished' | 'aborted' | 'failed' = 'open';
  private failure: unknown;
  private tail: Promise<unknown> = Promise.resolve();
  private latestCursor: number;
  private readonly layout: BlockLayout;
  private encoder: BlockEncoder;
  private shard: OpenShard | undefined;
  private readonly pendingIds = new Set<string>();
  private pendingHashes: Buffer[] = [];
  private pendingFlags: { id: string; reason: string }[] = [];
  private shardExamples = 0;
  private shardTokens = 0;
  private shardSupervised = 0;

  constructor(
    private readonly dir: string,
    private committed: StoreManifest,
    private readonly settings: Settings,
    private readonly fs: StoreFileSystem,
    private readonly committedIds: Set<string>,
    private readonly lock: OutputLock,
  ) {
    this.latestCursor = committed.cursor;
    this.layout = {
      k: settings.k,
      vocabSize: committed.vocabSize,
      valueEncoding: settings.valueEncoding,
      quantizationStep: settings.quantizationStep,
      nextTokenLogProbs: settings.nextTokenLogProbs,
      idCoding: settings.idCoding,
    };
    this.encoder = new BlockEncoder(this.layout);
  }

  get cursor(): number {
    return this.committed.cursor;
  }

  get committedExamples(): number {
    return this.committed.examples;
  }

  get manifest(): StoreManifest {
    return this.committed;
  }

  append(record: CaptureRecord, options: { cursor: number }): Promise<void> {
    return this.run(async () => {
      this.checkCursor(options?.cursor);
      validateRecord(record, {
        k: this.settings.k,
        vocabSize: this.layout.vocabSize,
        nextTokenLogProbs: this.settings.nextTokenLogProbs,
      });
      const hash = idHash(record.id);
      const key = hash.toString('hex');
      if (this.committedIds.has(key) || this.pendingIds.has(key))
        throw new InvalidInputError(
          `record "${record.id}": the store already holds an example with this id; ids must be unique.`,
          {
            code: 'STORE_DUPLICATE_ID',
            field: 'id',
            details: { id: record.id },
          },
        );
      this.encoder.add(record);
      this.pendingIds.add(key);
      this.pendingHashes.push(hash);
      this.shardExamples++;
      this.shardTokens += record.inputIds.length;
      for (let t = 0; t < record.labelMask.length; t++) this.shardSupervised += record.labelMask[t]!;
      this.latestCursor = options.cursor;
      await this.guard(async () => {
        if (
          this.encoder.examples >= this.settings.blockExamples ||
          this.encoder.rawBytes >= this.settings.blockTargetBytes
        )
          await this.flushBlock();
        if (this.shard && this.shard.bytes >= this.settings.shardTargetBytes) await this.commit(false);
      });
    });
  }

  flag(id: string, reason: string, options: { cursor: number }): Promise<void> {
    return this.run(async () => {
      this.checkCursor(options?.cursor);
      if (typeof id !== 'string' || typeof reason !== 'string')
        throw new InvalidInputError('flag(id, reason): both must be strings', {
          code: 'STORE_INVALID_RECORD',
        });
      this.pendingFlags.push({ id, reason });
      this.latestCursor = options.cursor;
    });
  }

  finish(): Promise<StoreManifest> {
    return this.run(async () => {
      await this.guard(() => this.commit(true));
      this.state = 'finished';
      await this.lock.release();
      return this.committed;
    });
  }

  abort(): Promise<void> {
    const result = this.tail.then(async () => {
      if (this.state === 'finished' || this.state === 'aborted') return;
      this.state = 'aborted';
      await this.dropShard();
      await this.lock.release();
    });
    this.tail = result.catch(() => {});
    return result;
  }

  private run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.tail.then(() => {
      if (this.state !== 'open')
        throw new FuseChatError(
          'STORE_WRITER_CLOSED',
          this.state === 'failed'
            ? `The store writer for ${this.dir} stopped after an error (${(this.failure as Error)?.message}); create a new writer to resume.`
            : `The store writer for ${this.dir} is ${this.state}; create a new writer to continue.`,
          { cause: this.failure, details: { dir: this.dir } },
        );
      return task();
    });
    this.tail = result.catch(() => {});
    return result;
  }

  /** File-system work: any failure leaves the writer failed and the store at its last commit. */
  private async guard(work: () => Promise<void>): Promise<void> {
    try {
      await work();
    } catch (error) {
      this.state = 'failed';
      this.failure = error;
      await this.dropShard();
      await this.lock.release();
      throw error instanceof FuseChatError ? error : fsError(error, 'write the store in', this.dir);
    }
  }

  private checkCursor(cursor: number | undefined): void {
    if (!Number.isSafeInteger(cursor) || cursor! < this.latestCursor)
      throw new InvalidInputError(
        `cursor must be an integer ≥ the previous cursor ${this.latestCursor}, got ${cursor}`,
        {
          code: 'STORE_INVALID_CURSOR',
          field: 'cursor',
        },
      );
  }

  private async flushBlock(): Promise<void> {
    if (this.encoder.examples === 0) return;
    const encoder = this.encoder;
    this.encoder = new BlockEncoder(this.layout);
    const raw = encoder.finish();
    const compressed = await compressBlock(raw, this.settings.compression);
    const shard = this.shard ?? (await this.openShard());
    const offset = shard.bytes;
    await writeAll(shard.handle, compressed, offset);
    shard.hash.update(compressed);
    shard.bytes += compressed.length;
    const previous = shard.blocks.at(-1);
    shard.blocks.push({
      offset,
      compressedBytes: compressed.length,
      rawBytes: raw.length,
      firstExample: previous ? previous.firstExample + previous.examples : 0,
      examples: encoder.examples,
    });
  }

  private async openShard(): Promise<OpenShard> {
    const index = this.committed.shards.length;
    const path = join(this.dir, shardFileName(index));
    const temp = tempPathFor(path);
    const handle = await this.fs.open(temp, 'w');
    this.shard = { index, temp, handle, hash: createHash('sha256'), bytes: 0, blocks: [] };
    await writeAll(handle, SHARD_MAGIC, 0);
    this.shard.hash.update(SHARD_MAGIC);
    this.shard.bytes = SHARD_MAGIC.length;
    return this.shard;
  }

  private async commit(complete: boolean): Promise<void> {
    await this.flushBlock();
    const shards = [...this.committed.shards];
    const shard = this.shard;
    if (shard) {
      await shard.handle.sync();
      await shard.handle.close();
      const file = shardFileName(shard.index);
      await this.fs.rename(shard.temp, join(this.dir, file));
      this.shard = undefined;
      const indexFile = indexFileName(shard.index);
      const index = encodeShardIndex(shard.blocks, this.pendingHashes);
      await writeFileAtomic(join(this.dir, indexFile), index, this.fs);
      shards.push({
        file,
        bytes: shard.bytes,
        sha256: shard.hash.digest('hex'),
        indexFile,
        indexBytes: index.length,
        indexSha256: createHash('sha256').update(index).digest('hex'),
        firstExample: this.committed.examples,
        examples: this.shardExamples,
        tokens: this.shardTokens,
        blocks: shard.blocks.length,
      });
    }
    const next: Omit<StoreManifest, 'contentHash'> = {
      ...this.committed,
      examples: this.committed.examples + this.shardExamples,
      tokens: this.committed.tokens + this.shardTokens,
      supervisedTokens: this.committed.supervisedTokens + this.shardSupervised,
      flagged: [...this.committed.flagged, ...this.pendingFlags],
      shards,
      cursor: this.latestCursor,
      complete,
    };
    const manifest = { ...next, contentHash: computeContentHash(next) };
    await writeFileAtomic(join(this.dir, MANIFEST_FILE), serializeManifest(manifest), this.fs);
    this.committed = manifest;
    for (const id of this.pendingIds) this.committedIds.add(id);
    this.pendingIds.clear();
    this.pendingHashes = [];
    this.pendingFlags = [];
    this.shardExamples = 0;
    this.shardTokens = 0;
    this.shardSupervised = 0;
  }

  private async dropShard(): Promise<void> {
    const shard = this.shard;
    this.shard = undefined;
    if (!shard) return;
    await shard.handle.close().catch(() => {});
    await this.fs.unlink(shard.temp).catch(() => {});
  }
}

async function writeAll(handle: FileHandle, bytes: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < bytes.length) {
    const { bytesWritten } = await handle.write(bytes, done, bytes.length - done, position + done);
    done += bytesWritten;
  }
}
