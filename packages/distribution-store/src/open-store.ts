import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { type FileHandle, open, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type CaptureRecord,
  FileFormatError,
  FuseChatError,
  IntegrityError,
  InvalidInputError,
} from '@fusechat/core';
import { type BlockLayout, decodeBlock } from './block-codec.js';
import { decompressBlock } from './compression.js';
import { fsError } from './io.js';
import {
  blockOf,
  decodeShardIndex,
  idHash,
  lookupIdHash,
  SHARD_MAGIC,
  type ShardIndex,
} from './shard-index.js';
import { checkStoreIdentity, type StoreIdentityExpectation } from './store-identity.js';
import {
  computeContentHash,
  MANIFEST_FILE,
  parseStoreManifest,
  type StoreManifest,
  type StoreShard,
} from './store-manifest.js';

/** Options of {@link openStore}. */
export interface OpenStoreOptions {
  /** Identity the store must have; checked before anything else is read (`STORE_IDENTITY_MISMATCH`). */
  expect?: StoreIdentityExpectation;
  /** Refuse an incomplete store (`STORE_INCOMPLETE`). */
  requireComplete?: boolean;
  /**
   * Decoded blocks kept for random access (`get`, `getById`), least recently used out first, by
   * their uncompressed size (default 64 MiB; 0 keeps only the last block). Training reads examples
   * in length order across the whole store: without a cache each one decodes a block.
   */
  blockCacheBytes?: number;
}

/** A store opened for reading; see {@link openStore}. Iterating it yields every record in store order. */
export interface DistributionStore extends AsyncIterable<CaptureRecord> {
  readonly manifest: StoreManifest;
  readonly dir: string;
  /** Number of (valid) examples. */
  readonly size: number;
  /** The record at store index `index` (0-based); decodes one block. */
  get(index: number): Promise<CaptureRecord>;
  /** The record with this id, through the shards' id index; `undefined` when absent. */
  getById(id: string): Promise<CaptureRecord | undefined>;
  /** Records `[start, end)` in store order, one block in memory at a time. */
  records(options?: { start?: number; end?: number }): AsyncIterable<CaptureRecord>;
  /** Re-hashes every shard and index file against the manifest. */
  verify(): Promise<{ ok: boolean; problems: string[] }>;
  /** Closes the open file handles; later reads throw `STORE_CLOSED`. */
  close(): Promise<void>;
}

/**
 * Opens the store in `dir`: parses and validates `manifest.json` (`STORE_MANIFEST_MALFORMED`,
 * `STORE_FORMAT_TOO_NEW`), checks `expect` (`STORE_IDENTITY_MISMATCH`) and `requireComplete`
 * (`STORE_INCOMPLETE`), then checks every shard and index file exists with its recorded size
 * (`STORE_SHARD_MISSING`, `STORE_SHARD_TRUNCATED`). Checksums are checked by `verify()`.
 *
 * @example
 * ```ts
 * const store = await openStore('stores/llama', { expect: { tokenizer: { hash: tokenizer.hash } }, requireComplete: true });
 * try {
 *   for await (const record of store) train(record);
 *   const one = await store.getById('conversation-42');
 * } finally {
 *   await store.close();
 * }
 * ```
 */
export async function openStore(dir: string, options: OpenStoreOptions = {}): Promise<DistributionStore> {
  const manifestPath = join(dir, MANIFEST_FILE);
  let text: string;
  try {
    text = await readFile(manifestPath, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT')
      throw new FileFormatError(
        'STORE_NOT_FOUND',
        `${dir} holds no distribution store (no ${MANIFEST_FILE}); run \`fusechat capture\` to create one.`,
        { path: manifestPath, cause: error },
      );
    throw fsError(error, 'read', manifestPath);
  }
  const manifest = parseStoreManifest(text, manifestPath);
  if (options.expect) checkStoreIdentity(manifest, options.expect, dir);
  if (options.requireComplete && !manifest.complete)
    throw new IntegrityError(
      'STORE_INCOMPLETE',
      `${dir} is an incomplete store (${manifest.examples} examples committed); finish the capture (rerun it to resume) before using it.`,
      { details: { dir, examples: manifest.examples } },
    );
  await Promise.all(
    manifest.shards.flatMap((shard) => [
      checkSize(join(dir, shard.file), shard.bytes),
      checkSize(join(dir, shard.indexFile), shard.indexBytes),
    ]),
  );
  const store = new Store(dir, manifest);
  if (options.blockCacheBytes !== undefined) {
    if (!(options.blockCacheBytes >= 0))
      throw new InvalidInputError(`blockCacheBytes must be a number ≥ 0, got ${options.blockCacheBytes}`, {
        code: 'STORE_INVALID_OPTION',
        field: 'blockCacheBytes',
      });
    store.blockCacheBytes = options.blockCacheBytes;
  }
  return store;
}

async function checkSize(path: string, expected: number): Promise<void> {
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT')
      throw new FileFormatError(
        'STORE_SHARD_MISSING',
        `${path} is listed in the manifest but missing; the store is damaged.`,
        {
          path,
          cause: error,
        },
      );
    throw fsError(error, 'stat', path);
  }
  if (size !== expected)
    throw new FileFormatError(
      'STORE_SHARD_TRUNCATED',
      `${path} has ${size} bytes, the manifest says ${expected}; the file is ${size < expected ? 'truncated' : 'corrupt'} (re-copy the store or capture again).`,
      { path, offset: Math.min(size, expected), details: { size, expected } },
    );
}

const MAX_OPEN_HANDLES = 8;

class Store implements DistributionStore {
  readonly size: number;
  private readonly layout: BlockLayout;
  private readonly indexes = new Map<number, Promise<ShardIndex>>();
  private readonly handles = new Map<number, Promise<FileHandle>>();
  private closed = false;
  private cached: { shard: number; block: number; records: CaptureRecord[] } | undefined;
  /** Least recently used first (a Map iterates in insertion order). */
  private readonly blockCache = new Map<string, { records: CaptureRecord[]; bytes: number }>();
  private blockCacheUsed = 0;
  blockCacheBytes = 64 * 1024 * 1024;

  constructor(
    readonly dir: string,
    readonly manifest: StoreManifest,
  ) {
    this.size = manifest.examples;
    this.layout = {
      k: manifest.k,
      vocabSize: manifest.vocabSize,
      valueEncoding: manifest.valueEncoding,
      quantizationStep: manifest.quantizationStep ?? 0,
      nextTokenLogProbs: manifest.hasNextTokenLogProbs,
      idCoding: manifest.idCoding,
    };
  }

  [Symbol.asyncIterator](): AsyncIterator<CaptureRecord> {
    return this.records()[Symbol.asyncIterator]();
  }

  async get(index: number): Promise<CaptureRecord> {
    this.checkOpen();
    if (!Number.isInteger(index) || index < 0 || index >= this.size)
      throw new InvalidInputError(`store index ${index} is out of range [0, ${this.size})`, {
        code: 'STORE_INDEX_OUT_OF_RANGE',
        field: 'index',
      });
    const shardNumber = this.shardOf(index);
    const shard = this.manifest.shards[shardNumber]!;
    const local = index - shard.firstExample;
    const shardIndex = await this.index(shardNumber);
    const block = blockOf(shardIndex, local);
    const records = await this.block(shardNumber, block);
    return records[local - shardIndex.blocks[block]!.firstExample]!;
  }

  async getById(id: string): Promise<CaptureRecord | undefined> {
    this.checkOpen();
    const hash = idHash(id);
    for (let shardNumber = 0; shardNumber < this.manifest.shards.length; shardNumber++) {
      const shardIndex = await this.index(shardNumber);
      for (const local of lookupIdHash(shardIndex, hash)) {
        const record = await this.get(this.manifest.shards[shardNumber]!.firstExample + local);
        if (record.id === id) return record;
      }
    }
    return undefined;
  }

  records(options: { start?: number; end?: number } = {}): AsyncIterable<CaptureRecord> {
    const start = options.start ?? 0;
    const end = options.end ?? this.size;
    if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end > this.size || start > end)
      throw new InvalidInputError(`records(): range [${start}, ${end}) is not inside [0, ${this.size}]`, {
        code: 'STORE_INDEX_OUT_OF_RANGE',
      });
    const store = this;
    return {
      async *[Symbol.asyncIterator]() {
        if (start === end) return;
        for (
          let shardNumber = store.shardOf(start);
          shardNumber < store.manifest.shards.length;
          shardNumber++
        ) {
          const shard = store.manifest.shards[shardNumber]!;
          if (shard.firstExample >= end) return;
          const shardIndex = await store.index(shardNumber);
          const firstBlock = blockOf(shardIndex, Math.max(0, start - shard.firstExample));
          // Read (and decompress) the next block while the caller consumes this one.
          let next: Promise<CaptureRecord[]> | undefined = store.block(shardNumber, firstBlock, false);
          for (let block = firstBlock; block < shardIndex.blocks.length && next; block++) {
            const records = await next;
            const entry = shardIndex.blocks[block]!;
            const blockStart = shard.firstExample + entry.firstExample;
            next =
              block + 1 < shardIndex.blocks.length && blockStart + entry.examples < end
                ? store.block(shardNumber, block + 1, false)
                : undefined;
            for (let at = 0; at < records.length; at++) {
              const index = blockStart + at;
              if (index < start) continue;
              if (index >= end) return;
              store.checkOpen();
              yield records[at]!;
            }
          }
        }
      },
    };
  }

  async verify(): Promise<{ ok: boolean; problems: string[] }> {
    this.checkOpen();
    const problems: string[] = [];
    if (computeContentHash(this.manifest) !== this.manifest.contentHash)
      problems.push('manifest contentHash does not match');
    for (const shard of this.manifest.shards) {
      for (const [file, bytes, sha256] of [
        [shard.file, shard.bytes, shard.sha256],
        [shard.indexFile, shard.indexBytes, shard.indexSha256],
      ] as const) {
        const path = join(this.dir, file);
        try {
          const { size, digest } = await hashFile(path);
          if (size !== bytes) problems.push(`${file}: ${size} bytes, the manifest says ${bytes}`);
          else if (digest !== sha256)
            problems.push(`${file}: sha256 ${digest} does not match the manifest's ${sha256}`);
        } catch (error) {
          problems.push(`${file}: ${(error as Error).message}`);
        }
      }
    }
    return { ok: problems.length === 0, problems };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.cached = undefined;
    this.blockCache.clear();
    this.blockCacheUsed = 0;
    const handles = [...this.handles.values()];
    this.handles.clear();
    await Promise.all(handles.map((handle) => handle.then((h) => h.close()).catch(() => {})));
  }

  private checkOpen(): void {
    if (this.closed)
      throw new FuseChatError('STORE_CLOSED', `the store ${this.dir} is closed; open it again to read.`, {
        details: { dir: this.dir },
      });
  }

  private shardOf(index: number): number {
    const shards = this.manifest.shards;
    let lo = 0;
    let hi = shards.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (shards[mid]!.firstExample <= index) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  private index(shardNumber: number): Promise<ShardIndex> {
    let index = this.indexes.get(shardNumber);
    if (!index) {
      const shard = this.manifest.shards[shardNumber]!;
      const path = join(this.dir, shard.indexFile);
      index = readFile(path).then(
        (bytes) => {
          try {
            return decodeShardIndex(bytes, shard.bytes, shard.examples);
          } catch (error) {
            throw new FileFormatError(
              'STORE_INDEX_MALFORMED',
              `${path} ${(error as Error).message}; the store is damaged.`,
              {
                path,
                cause: error,
              },
            );
          }
        },
        (error) => {
          throw fsError(error, 'read', path);
        },
      );
      index.catch(() => this.indexes.delete(shardNumber));
      this.indexes.set(shardNumber, index);
    }
    return index;
  }

  private handle(shardNumber: number): Promise<FileHandle> {
    let handle = this.handles.get(shardNumber);
    if (handle) {
      // Most recently used last.
      this.handles.delete(shardNumber);
      this.handles.set(shardNumber, handle);
      return handle;
    }
    if (this.handles.size >= MAX_OPEN_HANDLES) {
      const [oldest, oldHandle] = this.handles.entries().next().value as [number, Promise<FileHandle>];
      this.handles.delete(oldest);
      void oldHandle.then((h) => h.close()).catch(() => {});
    }
    const path = join(this.dir, this.manifest.shards[shardNumber]!.file);
    handle = open(path, 'r').catch((error) => {
      this.handles.delete(shardNumber);
      throw fsError(error, 'open', path);
    });
    this.handles.set(shardNumber, handle);
    return handle;
  }

  private async block(shardNumber: number, block: number, cache = true): Promise<CaptureRecord[]> {
    if (this.cached?.shard === shardNumber && this.cached.block === block) return this.cached.records;
    const key = `${shardNumber}:${block}`;
    const hit = this.blockCache.get(key);
    if (hit !== undefined) {
      this.blockCache.delete(key);
      this.blockCache.set(key, hit);
      if (cache) this.cached = { shard: shardNumber, block, records: hit.records };
      return hit.records;
    }
    const shard = this.manifest.shards[shardNumber]!;
    const entry = (await this.index(shardNumber)).blocks[block]!;
    const path = join(this.dir, shard.file);
    const handle = await this.handle(shardNumber);
    const compressed = Buffer.alloc(entry.compressedBytes);
    let done = 0;
    while (done < compressed.length) {
      const { bytesRead } = await handle.read(
        compressed,
        done,
        compressed.length - done,
        entry.offset + done,
      );
      if (bytesRead === 0)
        throw new FileFormatError(
          'STORE_SHARD_TRUNCATED',
          `${path} ends at byte ${entry.offset + done} inside block ${block}; the shard is truncated.`,
          {
            path,
            offset: entry.offset + done,
          },
        );
      done += bytesRead;
    }
    if (entry.offset === SHARD_MAGIC.length && block === 0) await this.checkMagic(handle, path);
    let records: CaptureRecord[];
    try {
      const raw = await decompressBlock(compressed, this.manifest.compression, entry.rawBytes);
      records = decodeBlock(raw, this.layout);
    } catch (error) {
      throw new FileFormatError(
        'STORE_BLOCK_CORRUPT',
        `${path}: block ${block} at byte ${entry.offset} cannot be decoded (${(error as Error).message}); the shard is corrupt (store verify names it).`,
        { path, offset: entry.offset, cause: error, details: { block } },
      );
    }
    if (records.length !== entry.examples)
      throw new FileFormatError(
        'STORE_BLOCK_CORRUPT',
        `${path}: block ${block} holds ${records.length} examples, the index says ${entry.examples}.`,
        {
          path,
          offset: entry.offset,
        },
      );
    if (cache) {
      this.cached = { shard: shardNumber, block, records };
      this.remember(key, records, entry.rawBytes);
    }
    return records;
  }

  private remember(key: string, records: CaptureRecord[], bytes: number): void {
    if (bytes > this.blockCacheBytes) return;
    this.blockCache.set(key, { records, bytes });
    this.blockCacheUsed += bytes;
    for (const [oldest, value] of this.blockCache) {
      if (this.blockCacheUsed <= this.blockCacheBytes) break;
      this.blockCache.delete(oldest);
      this.blockCacheUsed -= value.bytes;
    }
  }

  private async checkMagic(handle: FileHandle, path: string): Promise<void> {
    const magic = Buffer.alloc(SHARD_MAGIC.length);
    await handle.read(magic, 0, magic.length, 0);
    if (!magic.equals(SHARD_MAGIC))
      throw new FileFormatError(
        'STORE_BLOCK_CORRUPT',
        `${path} does not start with the shard magic "FCDSHRD1".`,
        { path, offset: 0 },
      );
  }
}

async function hashFile(path: string): Promise<{ size: number; digest: string }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { size, digest: hash.digest('hex') };
}

export type { StoreShard };
