/**
 * Bits needed to store every integer in `[0, count)` (at least 1).
 *
 * @example
 * ```ts
 * bitWidth(32000); // 15
 * bitWidth(151936); // 18
 * ```
 */
export function bitWidth(count: number): number {
  let bits = 1;
  while (2 ** bits < count) bits++;
  return bits;
}

/**
 * Appends unsigned integers of a fixed bit width to a little-endian bit stream: value `i`
 * occupies bits `[i·width, (i+1)·width)` of the stream, least significant bit first, where bit
 * `b` of the stream is bit `b mod 8` of byte `⌊b/8⌋`. Widths up to 32 are supported.
 *
 * @example
 * ```ts
 * const writer = new BitWriter();
 * writer.write(5, 3);
 * writer.write(1, 1);
 * writer.finish(); // Uint8Array [0b1101]
 * ```
 */
export class BitWriter {
  private bytes: Uint8Array;
  private length = 0;
  private accumulator = 0;
  private pending = 0;

  constructor(initialBytes = 1024) {
    this.bytes = new Uint8Array(Math.max(16, initialBytes));
  }

  /** Writes the low `width` bits of `value` (an integer in `[0, 2^width)`, `width` ≤ 32). */
  write(value: number, width: number): void {
    if (width > 24) {
      this.write(value & 0xffff, 16);
      this.write(Math.floor(value / 65536), width - 16);
      return;
    }
    // pending < 8 between calls, so value << pending stays within 31 bits.
    this.accumulator |= value << this.pending;
    this.pending += width;
    while (this.pending >= 8) {
      this.pushByte(this.accumulator & 0xff);
      this.accumulator >>>= 8;
      this.pending -= 8;
    }
  }

  /** Writes every value of `values` at `width` bits. */
  writeAll(values: ArrayLike<number>, width: number): void {
    for (let index = 0; index < values.length; index++) this.write(values[index]!, width);
  }

  /** Bytes the stream occupies so far (the partial last byte counted). */
  get byteLength(): number {
    return this.length + (this.pending > 0 ? 1 : 0);
  }

  /** Pads the last byte with zero bits and returns the stream (a view; the writer is spent). */
  finish(): Uint8Array {
    if (this.pending > 0) {
      this.pushByte(this.accumulator & 0xff);
      this.accumulator = 0;
      this.pending = 0;
    }
    return this.bytes.subarray(0, this.length);
  }

  private pushByte(byte: number): void {
    if (this.length === this.bytes.length) {
      const grown = new Uint8Array(this.bytes.length * 2);
      grown.set(this.bytes);
      this.bytes = grown;
    }
    this.bytes[this.length++] = byte;
  }
}

/**
 * Reads the stream {@link BitWriter} writes.
 *
 * @example
 * ```ts
 * const reader = new BitReader(new Uint8Array([0b1101]));
 * reader.read(3); // 5
 * reader.read(1); // 1
 * ```
 */
export class BitReader {
  private bitPosition: number;

  constructor(
    private readonly bytes: Uint8Array,
    startBit = 0,
  ) {
    this.bitPosition = startBit;
  }

  /** The next `width`-bit value (`width` ≤ 32); reading past the end throws a RangeError. */
  read(width: number): number {
    if (width > 24) {
      const low = this.read(16);
      return low + this.read(width - 16) * 65536;
    }
    const position = this.bitPosition;
    const end = position + width;
    if (end > this.bytes.length * 8) throw new RangeError(`bit stream ends at bit ${this.bytes.length * 8}`);
    const first = position >>> 3;
    const bytes = this.bytes;
    // Up to 24 + 7 bits span at most 4 bytes; bytes past the end read as 0.
    const word =
      (bytes[first]! |
        ((bytes[first + 1] ?? 0) << 8) |
        ((bytes[first + 2] ?? 0) << 16) |
        ((bytes[first + 3] ?? 0) << 24)) >>>
      0;
    this.bitPosition = end;
    return (word >>> (position & 7)) & ((1 << width) - 1);
  }

  /** Reads `count` values of `width` bits into `out` from `offset`. */
  readInto(out: { [index: number]: number }, offset: number, count: number, width: number): void {
    for (let index = 0; index < count; index++) out[offset + index] = this.read(width);
  }

  /** Bit position of the next read. */
  get position(): number {
    return this.bitPosition;
  }
}

/** Bytes that `count` values of `width` bits occupy. */
export function packedBytes(count: number, width: number): number {
  return Math.ceil((count * width) / 8);
}
