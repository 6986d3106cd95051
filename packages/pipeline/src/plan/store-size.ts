import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { MANIFEST_FILE, type StoreManifest } from '@fusechat/distribution-store';

// docs/formats.md, "Index file (.idx)": 8-byte magic + u32 blocks + u32 examples, then 24 bytes
// per block and 12 per example. "Shard file (.bin)": an 8-byte magic, then the blocks.
const INDEX_HEADER_BYTES = 16;
const INDEX_BLOCK_BYTES = 24;
const INDEX_ID_BYTES = 12;
const SHARD_MAGIC_BYTES = 8;

/** Bytes of one shard's `.idx` file (exact, from the documented layout). */
export function shardIndexBytes(blocks: number, examples: number): number {
  return INDEX_HEADER_BYTES + INDEX_BLOCK_BYTES * blocks + INDEX_ID_BYTES * examples;
}

/** What a written store measured: the rates a prediction scales by. */
export interface StoreCalibration {
  readonly examples: number;
  readonly tokens: number;
  /** Σ compressed block bytes / tokens. */
  readonly blockBytesPerToken: number;
  /** Σ uncompressed block bytes / tokens (decides where blocks close). */
  readonly rawBytesPerToken: number;
  /** `manifest.json` bytes with no shard listed, and per listed shard. */
  readonly manifestBaseBytes: number;
  readonly manifestShardBytes: number;
  /** Other files in the store directory (the aligned store's vocabulary map), in bytes. */
  readonly extraBytes: number;
  readonly blockExamples: number;
  readonly blockTargetBytes: number;
  readonly shardTargetBytes: number;
}

/**
 * Measures a complete store: compressed and raw block bytes per token (the block table of each
 * `.idx` file holds both), the manifest's size, and any other files (`extraFiles`).
 */
export async function calibrateStore(
  dir: string,
  extraFiles: readonly string[] = [],
): Promise<StoreCalibration> {
  const manifestText = await readFile(join(dir, MANIFEST_FILE), 'utf8');
  const manifest = JSON.parse(manifestText) as StoreManifest;
  let compressed = 0;
  let raw = 0;
  for (const shard of manifest.shards) {
    const index = await readFile(join(dir, shard.indexFile));
    const blocks = index.readUInt32LE(8);
    for (let block = 0; block < blocks; block++) {
      const at = INDEX_HEADER_BYTES + block * INDEX_BLOCK_BYTES;
      compressed += index.readUInt32LE(at + 8);
      raw += index.readUInt32LE(at + 12);
    }
  }
  const shardEntry =
    manifest.shards.length > 0
      ? // Canonical JSON at 2-space indentation, nested 2 deep: each key line gains 6 spaces.
        JSON.stringify(manifest.shards[0], Object.keys(manifest.shards[0]!).sort(), 2).replaceAll(
          '\n',
          '\n    ',
        ).length + 6
      : 0;
  let extraBytes = 0;
  for (const file of extraFiles) extraBytes += (await stat(join(dir, file))).size;
  const tokens = Math.max(1, manifest.tokens);
  return {
    examples: manifest.examples,
    tokens: manifest.tokens,
    blockBytesPerToken: compressed / tokens,
    rawBytesPerToken: raw / tokens,
    manifestBaseBytes: Buffer.byteLength(manifestText) - shardEntry * manifest.shards.length,
    manifestShardBytes: shardEntry,
    extraBytes,
    blockExamples: manifest.blockExamples,
    blockTargetBytes: manifest.blockTargetBytes,
    shardTargetBytes: manifest.shardTargetBytes,
  };
}

/** A predicted store: its bytes on disk and how they were counted. */
export interface StorePrediction {
  readonly bytes: number;
  readonly blocks: number;
  readonly shards: number;
  readonly blockBytesPerToken: number;
}

/**
 * Bytes of a store of `examples` examples and `tokens` tokens written with the calibration's
 * settings: compressed blocks at the measured bytes per token, blocks closing at
 * `blockExamples` examples or `blockTargetBytes` raw bytes, shards at `shardTargetBytes`, each
 * shard's magic and exact index, the manifest.
 *
 * @example
 * ```ts
 * const calibration = await calibrateStore('tmp/calibration-store');
 * predictStoreBytes(calibration, { examples: 5000, tokens: 1_200_000 }).bytes;
 * ```
 */
export function predictStoreBytes(
  calibration: StoreCalibration,
  counts: { readonly examples: number; readonly tokens: number },
): StorePrediction {
  const blockBytes = calibration.blockBytesPerToken * counts.tokens;
  const blocks = Math.max(
    Math.ceil(counts.examples / calibration.blockExamples),
    Math.ceil((calibration.rawBytesPerToken * counts.tokens) / calibration.blockTargetBytes),
    counts.examples > 0 ? 1 : 0,
  );
  // A shard is committed once it reaches the target: all but the last are at least that big.
  const shards = Math.max(1, Math.ceil(blockBytes / calibration.shardTargetBytes));
  const bytes =
    blockBytes +
    shards * SHARD_MAGIC_BYTES +
    shards * INDEX_HEADER_BYTES +
    blocks * INDEX_BLOCK_BYTES +
    counts.examples * INDEX_ID_BYTES +
    calibration.manifestBaseBytes +
    shards * calibration.manifestShardBytes +
    calibration.extraBytes;
  return { bytes: Math.round(bytes), blocks, shards, blockBytesPerToken: calibration.blockBytesPerToken };
}

/** Bytes of every file under a store directory as the manifest lists them, plus the manifest. */
export async function storeDiskBytes(dir: string): Promise<number> {
  const manifestText = await readFile(join(dir, MANIFEST_FILE), 'utf8');
  const manifest = JSON.parse(manifestText) as StoreManifest;
  return (
    Buffer.byteLength(manifestText) +
    manifest.shards.reduce((sum, shard) => sum + shard.bytes + shard.indexBytes, 0)
  );
}
