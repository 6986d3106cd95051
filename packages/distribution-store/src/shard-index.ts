import { createHash } from 'node:crypto';

/** First 8 bytes of each shard file. */
export const SHARD_MAGIC = Buffer.from('FCDSHRD1', 'latin1');
/** First 8 bytes of each index file. */
export const INDEX_MAGIC = Buffer.from('FCDSIDX1', 'latin1');
const HEADER_BYTES = 16;
const BLOCK_ENTRY_BYTES = 24;
const ID_ENTRY_BYTES = 12;

/** One compressed block of a shard. */
export interface BlockEntry {
  /** Byte offset of the block in the shard file. */
  offset: number;
  compressedBytes: number;
  rawBytes: number;
  /** Shard-local index of the block's first example. */
  firstExample: number;
  examples: number;
}

/** A shard's index: where each block is, and a sorted id-hash table for lookups by id. */
export interface ShardIndex {
  blocks: BlockEntry[];
  examples: number;
  /** 8-byte id hashes, sorted (memcmp order), `examples × 8` bytes. */
  idHashes: Buffer;
  /** Shard-local example index of each hash entry. */
  idExamples: Uint32Array;
}

/** First 8 bytes of sha256(UTF-8 id): the key of the id table. */
export function idHash(id: string): Buffer {
  return createHash('sha256').update(id, 'utf8').digest().subarray(0, 8);
}

/** Serialises an index file from its blocks and the (shard-local ordered) example ids' hashes. */
export function encodeShardIndex(blocks: readonly BlockEntry[], hashes: readonly Buffer[]): Buffer {
  const order = hashes
    .map((_, index) => index)
    .sort((a, b) => Buffer.compare(hashes[a]!, hashes[b]!) || a - b);
  const out = Buffer.alloc(HEADER_BYTES + blocks.length * BLOCK_ENTRY_BYTES + hashes.length * ID_ENTRY_BYTES);
  INDEX_MAGIC.copy(out, 0);
  out.writeUInt32LE(blocks.length, 8);
  out.writeUInt32LE(hashes.length, 12);
  let position = HEADER_BYTES;
  for (const block of blocks) {
    out.writeBigUInt64LE(BigInt(block.offset), position);
    out.writeUInt32LE(block.compressedBytes, position + 8);
    out.writeUInt32LE(block.rawBytes, position + 12);
    out.writeUInt32LE(block.firstExample, position + 16);
    out.writeUInt32LE(block.examples, position + 20);
    position += BLOCK_ENTRY_BYTES;
  }
  for (const example of order) {
    hashes[example]!.copy(out, position);
    out.writeUInt32LE(example, position + 8);
    position += ID_ENTRY_BYTES;
  }
  return out;
}

/**
 * Parses an index file; throws a RangeError describing the first inconsistency (the caller adds
 * the path). `shardBytes` is the data file's size, to check the block table against.
 */
export function decodeShardIndex(bytes: Buffer, shardBytes: number, expectedExamples: number): ShardIndex {
  if (bytes.length < HEADER_BYTES || !bytes.subarray(0, 8).equals(INDEX_MAGIC))
    throw new RangeError('does not start with the index magic "FCDSIDX1"');
  const blockCount = bytes.readUInt32LE(8);
  const examples = bytes.readUInt32LE(12);
  const expectedBytes = HEADER_BYTES + blockCount * BLOCK_ENTRY_BYTES + examples * ID_ENTRY_BYTES;
  if (bytes.length !== expectedBytes)
    throw new RangeError(`has ${bytes.length} bytes, its header implies ${expectedBytes}`);
  if (examples !== expectedExamples)
    throw new RangeError(`lists ${examples} examples, the manifest ${expectedExamples}`);
  const blocks: BlockEntry[] = [];
  let position = HEADER_BYTES;
  let nextOffset = SHARD_MAGIC.length;
  let nextExample = 0;
  for (let index = 0; index < blockCount; index++) {
    const block: BlockEntry = {
      offset: Number(bytes.readBigUInt64LE(position)),
      compressedBytes: bytes.readUInt32LE(position + 8),
      rawBytes: bytes.readUInt32LE(position + 12),
      firstExample: bytes.readUInt32LE(position + 16),
      examples: bytes.readUInt32LE(position + 20),
    };
    if (block.offset !== nextOffset || block.firstExample !== nextExample || block.examples === 0)
      throw new RangeError(
        `block ${index} is out of sequence (offset ${block.offset}, first example ${block.firstExample})`,
      );
    nextOffset += block.compressedBytes;
    nextExample += block.examples;
    blocks.push(block);
    position += BLOCK_ENTRY_BYTES;
  }
  if (nextOffset !== shardBytes)
    throw new RangeError(`blocks end at byte ${nextOffset}, the shard has ${shardBytes}`);
  if (nextExample !== examples)
    throw new RangeError(`blocks hold ${nextExample} examples, the header says ${examples}`);
  const idHashes = Buffer.alloc(examples * 8);
  const idExamples = new Uint32Array(examples);
  for (let index = 0; index < examples; index++) {
    bytes.copy(idHashes, index * 8, position, position + 8);
    idExamples[index] = bytes.readUInt32LE(position + 8);
    if (idExamples[index]! >= examples)
      throw new RangeError(`id entry ${index} points past the last example`);
    position += ID_ENTRY_BYTES;
  }
  return { blocks, examples, idHashes, idExamples };
}

/** Shard-local example indices whose id hash equals `hash` (binary search, then a scan of equals). */
export function lookupIdHash(index: ShardIndex, hash: Buffer): number[] {
  let lo = 0;
  let hi = index.examples;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (Buffer.compare(index.idHashes.subarray(mid * 8, mid * 8 + 8), hash) < 0) lo = mid + 1;
    else hi = mid;
  }
  const found: number[] = [];
  for (let at = lo; at < index.examples && index.idHashes.subarray(at * 8, at * 8 + 8).equals(hash); at++)
    found.push(index.idExamples[at]!);
  return found;
}

/** The block holding shard-local example `example` (binary search on first examples). */
export function blockOf(index: ShardIndex, example: number): number {
  let lo = 0;
  let hi = index.blocks.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    if (index.blocks[mid]!.firstExample <= example) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}
