import type { CaptureRecord } from '@fusechat/core';
import { BitReader, BitWriter, bitWidth } from './bit-packing.js';
import { ByteReader, ByteWriter, readUint16Planes, Uint16List, uint16Planes } from './byte-streams.js';
import { float16Bits, float16FromKey, float16Key, float16Value } from './float16.js';

/** How the token and top-k id streams of a block are coded (see docs/formats.md). */
export type IdCoding = 'bitpacked' | 'varint';

/** Everything that fixes the byte layout of a block; all of it is in the manifest. */
export interface BlockLayout {
  readonly k: number;
  readonly vocabSize: number;
  readonly valueEncoding: 'fp16' | 'quantized';
  /** Grid step of the quantized mode (logits), ignored by fp16. */
  readonly quantizationStep: number;
  readonly nextTokenLogProbs: boolean;
  readonly idCoding: IdCoding;
}

/** Number of streams of a block, in their fixed order. */
export const BLOCK_STREAMS = [
  'headers',
  'ids',
  'ce',
  'labelMask',
  'counts',
  'tokens',
  'topkIds',
  'values',
  'nextTokenLogProbs',
] as const;

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder('utf-8', { fatal: true });

/**
 * Accumulates validated records into one block's streams. The caller checks records first
 * (`validateRecord`); the encoder trusts them.
 */
export class BlockEncoder {
  examples = 0;
  tokens = 0;
  private readonly headers = new ByteWriter(256);
  private readonly ids = new ByteWriter(1024);
  private readonly ce = new ByteWriter(256);
  private readonly labelMask = new BitWriter(1024);
  private readonly counts = new BitWriter(4096);
  private readonly tokenBits = new BitWriter(16_384);
  private readonly tokenBytes = new ByteWriter(16_384);
  private readonly topkBits = new BitWriter(65_536);
  private readonly topkBytes = new ByteWriter(65_536);
  private readonly heads = new Uint16List();
  private readonly deltas = new Uint16List();
  private readonly nextLogProbs = new Uint16List();
  private readonly countBits: number;
  private readonly idBits: number;
  private readonly previousRow: Int32Array;

  constructor(private readonly layout: BlockLayout) {
    this.countBits = bitWidth(layout.k + 1);
    this.idBits = bitWidth(layout.vocabSize);
    this.previousRow = new Int32Array(layout.k);
  }

  /** Uncompressed size so far (bytes), the block-size criterion. */
  get rawBytes(): number {
    return (
      this.headers.length +
      this.ids.length +
      this.ce.length +
      this.labelMask.byteLength +
      this.counts.byteLength +
      this.tokenBits.byteLength +
      this.tokenBytes.length +
      this.topkBits.byteLength +
      this.topkBytes.length +
      2 * (this.heads.length + this.deltas.length + this.nextLogProbs.length)
    );
  }

  add(record: CaptureRecord): void {
    const { k, idCoding, valueEncoding, quantizationStep } = this.layout;
    const length = record.inputIds.length;
    const id = textEncoder.encode(record.id);
    this.headers.varint(id.length);
    this.headers.varint(length);
    this.ids.append(id);
    this.ce.float64(record.ce);
    const { ids, logits } = record.topK;
    const rowWidth = record.topK.k;
    let previousCount = 0;
    for (let t = 0; t < length; t++) {
      this.labelMask.write(record.labelMask[t]!, 1);
      const token = record.inputIds[t]!;
      if (idCoding === 'bitpacked') this.tokenBits.write(token, this.idBits);
      else {
        let code = k + token;
        for (let slot = 0; slot < previousCount; slot++)
          if (this.previousRow[slot] === token) {
            code = slot;
            break;
          }
        this.tokenBytes.varint(code);
      }
      let count = 0;
      let previous = 0;
      let referenceValue = 0;
      for (let slot = 0; slot < rowWidth; slot++) {
        const entryId = ids[t * rowWidth + slot]!;
        if (entryId < 0) continue;
        this.previousRow[count] = entryId;
        if (idCoding === 'bitpacked') this.topkBits.write(entryId, this.idBits);
        else this.topkBytes.varint(entryId);
        const bits = float16Bits(logits[t * rowWidth + slot]!);
        if (valueEncoding === 'fp16') {
          const key = float16Key(bits);
          if (count === 0) this.heads.push(key);
          else this.deltas.push((previous - key) & 0xffff);
          previous = key;
        } else if (count === 0) {
          this.heads.push(float16Key(bits));
          referenceValue = float16Value(bits);
          previous = 0;
        } else {
          const code = quantizeGap(referenceValue, logits[t * rowWidth + slot]!, quantizationStep);
          this.deltas.push((code - previous) & 0xffff);
          previous = code;
        }
        count++;
      }
      this.counts.write(count, this.countBits);
      previousCount = count;
    }
    if (this.layout.nextTokenLogProbs) {
      const values = record.nextTokenLogProbs!;
      for (let t = 0; t < length; t++) this.nextLogProbs.push(float16Bits(values[t]!));
    }
    this.examples++;
    this.tokens += length;
  }

  /** The uncompressed block: varint example count, a u32 length per stream, the streams. */
  finish(): Uint8Array {
    const streams = [
      this.headers.contents(),
      this.ids.contents(),
      this.ce.contents(),
      this.labelMask.finish(),
      this.counts.finish(),
      this.layout.idCoding === 'bitpacked' ? this.tokenBits.finish() : this.tokenBytes.contents(),
      this.layout.idCoding === 'bitpacked' ? this.topkBits.finish() : this.topkBytes.contents(),
      uint16Planes(this.heads, this.deltas),
      uint16Planes(this.nextLogProbs),
    ];
    const out = new ByteWriter(streams.reduce((sum, s) => sum + s.length, 64));
    out.varint(this.examples);
    for (const stream of streams) out.uint32(stream.length);
    for (const stream of streams) out.append(stream);
    return out.contents();
  }
}

/** Gap of `value` below the row's first value on the quantization grid, as a signed 16-bit code. */
export function quantizeGap(referenceValue: number, value: number, step: number): number {
  const code = Math.round((referenceValue - value) / step);
  return Math.max(-32768, Math.min(32767, code));
}

/** The value a quantized code decodes to (float32 arithmetic, as the reader does). */
export function dequantizeGap(referenceValue: number, code: number, step: number): number {
  return Math.fround(referenceValue - code * step);
}

/**
 * Decodes an uncompressed block into records (rows are `k` wide: the stored entries first, then
 * empty slots with id −1 and logit −Infinity). Throws a RangeError or TypeError on malformed
 * bytes; the caller wraps it with the file and offset.
 */
export function decodeBlock(block: Uint8Array, layout: BlockLayout): CaptureRecord[] {
  const { k, idCoding, valueEncoding, quantizationStep } = layout;
  const reader = new ByteReader(block);
  const examples = reader.varint();
  const lengths = BLOCK_STREAMS.map(() => reader.uint32());
  const streams = lengths.map((length) => reader.take(length));
  if (reader.position !== block.length)
    throw new RangeError(`block has ${block.length - reader.position} bytes after its last stream`);
  const [
    headersBytes,
    idsBytes,
    ceBytes,
    maskBytes,
    countsBytes,
    tokenStream,
    topkStream,
    valueBytes,
    nextBytes,
  ] = streams as [Uint8Array, ...Uint8Array[]];
  const headers = new ByteReader(headersBytes);
  const idLengths: number[] = [];
  const positions: number[] = [];
  let totalPositions = 0;
  for (let example = 0; example < examples; example++) {
    idLengths.push(headers.varint());
    const length = headers.varint();
    positions.push(length);
    totalPositions += length;
  }
  if (headers.position !== headersBytes.length) throw new RangeError('header stream has trailing bytes');
  if (ceBytes!.length !== 8 * examples)
    throw new RangeError(`ce stream holds ${ceBytes!.length} bytes, expected ${8 * examples}`);
  const ids = new ByteReader(idsBytes!);
  const ce = new ByteReader(ceBytes!);
  const mask = new BitReader(maskBytes!);
  const countBits = bitWidth(k + 1);
  const idBits = bitWidth(layout.vocabSize);
  const counts = new BitReader(countsBytes!);
  const tokenBitReader = idCoding === 'bitpacked' ? new BitReader(tokenStream!) : undefined;
  const tokenByteReader = idCoding === 'varint' ? new ByteReader(tokenStream!) : undefined;
  const topkBitReader = idCoding === 'bitpacked' ? new BitReader(topkStream!) : undefined;
  const topkByteReader = idCoding === 'varint' ? new ByteReader(topkStream!) : undefined;
  const values = readUint16Planes(valueBytes!);
  const nextLogProbs = readUint16Planes(nextBytes!);
  if (layout.nextTokenLogProbs ? nextLogProbs.length !== totalPositions : nextLogProbs.length !== 0)
    throw new RangeError(
      `next-token log-prob stream holds ${nextLogProbs.length} values for ${totalPositions} positions`,
    );
  // Heads (one per non-empty row) come first in the value stream, then the deltas; count rows first.
  let nonEmptyRows = 0;
  {
    const peek = new BitReader(countsBytes!);
    for (let index = 0; index < totalPositions; index++) if (peek.read(countBits) > 0) nonEmptyRows++;
  }
  let headIndex = 0;
  let deltaIndex = nonEmptyRows;
  let nextIndex = 0;
  const records: CaptureRecord[] = [];
  for (let example = 0; example < examples; example++) {
    const length = positions[example]!;
    const id = textDecoder.decode(ids.take(idLengths[example]!));
    const inputIds = new Int32Array(length);
    const labelMask = new Uint8Array(length);
    const topIds = new Int32Array(length * k).fill(-1);
    const topLogits = new Float32Array(length * k).fill(Number.NEGATIVE_INFINITY);
    let previousCount = 0;
    for (let t = 0; t < length; t++) {
      labelMask[t] = mask.read(1);
      const count = counts.read(countBits);
      if (count > k)
        throw new RangeError(`row ${t} of example "${id}" claims ${count} entries, more than k = ${k}`);
      if (tokenBitReader) inputIds[t] = tokenBitReader.read(idBits);
      else {
        const code = tokenByteReader!.varint();
        if (code < k) {
          if (code >= previousCount)
            throw new RangeError(`token ${t} of "${id}" refers to empty slot ${code}`);
          inputIds[t] = topIds[(t - 1) * k + code]!;
        } else inputIds[t] = code - k;
      }
      const base = t * k;
      let key = 0;
      let code = 0;
      let referenceValue = 0;
      for (let slot = 0; slot < count; slot++) {
        topIds[base + slot] = topkBitReader ? topkBitReader.read(idBits) : topkByteReader!.varint();
        if (slot === 0) {
          if (headIndex >= nonEmptyRows) throw new RangeError('value stream too short');
          key = values[headIndex++]!;
          referenceValue = float16Value(float16FromKey(key));
          topLogits[base] = referenceValue;
          continue;
        }
        if (deltaIndex >= values.length) throw new RangeError('value stream too short');
        const delta = values[deltaIndex++]!;
        if (valueEncoding === 'fp16') {
          key = (key - delta) & 0xffff;
          topLogits[base + slot] = float16Value(float16FromKey(key));
        } else {
          code = ((code + delta) << 16) >> 16;
          topLogits[base + slot] = dequantizeGap(referenceValue, code, quantizationStep);
        }
      }
      previousCount = count;
    }
    let nextTokenLogProbs: Float32Array | undefined;
    if (layout.nextTokenLogProbs) {
      nextTokenLogProbs = new Float32Array(length);
      for (let t = 0; t < length; t++) nextTokenLogProbs[t] = float16Value(nextLogProbs[nextIndex++]!);
    }
    records.push({
      id,
      inputIds,
      labelMask,
      topK: { length, k, ids: topIds, logits: topLogits },
      ce: ce.float64(),
      ...(nextTokenLogProbs ? { nextTokenLogProbs } : {}),
    });
  }
  if (deltaIndex !== values.length) throw new RangeError('value stream has trailing values');
  return records;
}
