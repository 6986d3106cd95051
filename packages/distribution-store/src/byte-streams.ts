// Growable byte buffers and the two byte-oriented encodings of the store: unsigned LEB128 varints
// and 16-bit values split into byte planes (all low bytes, then all high bytes).

/** A growable little-endian byte buffer. */
export class ByteWriter {
  private bytes: Uint8Array;
  private view: DataView;
  length = 0;

  constructor(initialBytes = 1024) {
    this.bytes = new Uint8Array(Math.max(16, initialBytes));
    this.view = new DataView(this.bytes.buffer);
  }

  private reserve(extra: number): void {
    if (this.length + extra <= this.bytes.length) return;
    let size = this.bytes.length * 2;
    while (size < this.length + extra) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.bytes.subarray(0, this.length));
    this.bytes = grown;
    this.view = new DataView(grown.buffer);
  }

  byte(value: number): void {
    this.reserve(1);
    this.bytes[this.length++] = value;
  }

  /** Unsigned LEB128: 7 bits per byte, least significant group first, high bit = more follows. */
  varint(value: number): void {
    this.reserve(5);
    let rest = value;
    while (rest >= 0x80) {
      this.bytes[this.length++] = (rest & 0x7f) | 0x80;
      rest = Math.floor(rest / 128);
    }
    this.bytes[this.length++] = rest;
  }

  uint32(value: number): void {
    this.reserve(4);
    this.view.setUint32(this.length, value, true);
    this.length += 4;
  }

  float64(value: number): void {
    this.reserve(8);
    this.view.setFloat64(this.length, value, true);
    this.length += 8;
  }

  append(source: Uint8Array): void {
    this.reserve(source.length);
    this.bytes.set(source, this.length);
    this.length += source.length;
  }

  /** The bytes written so far (a view, valid until the next write). */
  contents(): Uint8Array {
    return this.bytes.subarray(0, this.length);
  }
}

/** Reads what {@link ByteWriter} writes; every read past the end throws a RangeError. */
export class ByteReader {
  position: number;
  private readonly view: DataView;

  constructor(
    readonly bytes: Uint8Array,
    start = 0,
    readonly end = bytes.length,
  ) {
    this.position = start;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  private need(count: number): void {
    if (this.position + count > this.end)
      throw new RangeError(`needs ${count} bytes at offset ${this.position}, stream ends at ${this.end}`);
  }

  byte(): number {
    this.need(1);
    return this.bytes[this.position++]!;
  }

  varint(): number {
    let value = 0;
    let scale = 1;
    for (let shift = 0; shift < 35; shift += 7) {
      if (this.position >= this.end) throw new RangeError(`varint runs past the stream end at ${this.end}`);
      const byte = this.bytes[this.position++]!;
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) return value;
      scale *= 128;
    }
    throw new RangeError(`varint longer than 5 bytes at offset ${this.position}`);
  }

  uint32(): number {
    this.need(4);
    const value = this.view.getUint32(this.position, true);
    this.position += 4;
    return value;
  }

  float64(): number {
    this.need(8);
    const value = this.view.getFloat64(this.position, true);
    this.position += 8;
    return value;
  }

  take(count: number): Uint8Array {
    this.need(count);
    const slice = this.bytes.subarray(this.position, this.position + count);
    this.position += count;
    return slice;
  }
}

/** A growable list of 16-bit values. */
export class Uint16List {
  private values = new Uint16Array(1024);
  length = 0;

  push(value: number): void {
    if (this.length === this.values.length) {
      const grown = new Uint16Array(this.values.length * 2);
      grown.set(this.values);
      this.values = grown;
    }
    this.values[this.length++] = value;
  }

  contents(): Uint16Array {
    return this.values.subarray(0, this.length);
  }
}

/**
 * The byte-plane serialisation of the concatenation of `lists`: the low byte of every value, then
 * the high byte of every value (n values → 2n bytes). Entropy coders do far better on the planes
 * than on interleaved little-endian pairs, since the high bytes of small deltas are mostly 0.
 */
export function uint16Planes(...lists: Uint16List[]): Uint8Array {
  const n = lists.reduce((sum, list) => sum + list.length, 0);
  const out = new Uint8Array(2 * n);
  let index = 0;
  for (const list of lists) {
    const values = list.contents();
    for (let i = 0; i < values.length; i++, index++) {
      const value = values[i]!;
      out[index] = value & 0xff;
      out[n + index] = value >>> 8;
    }
  }
  return out;
}

/** Inverse of {@link uint16Planes}: `bytes.length / 2` values. */
export function readUint16Planes(bytes: Uint8Array): Uint16Array {
  if (bytes.length % 2 !== 0) throw new RangeError(`a 16-bit plane stream has an odd length ${bytes.length}`);
  const n = bytes.length / 2;
  const out = new Uint16Array(n);
  for (let index = 0; index < n; index++) out[index] = bytes[index]! | (bytes[n + index]! << 8);
  return out;
}
