import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BitReader, BitWriter, bitWidth, packedBytes } from './bit-packing.js';

describe('bit packing', () => {
  it('lays values out least significant bit first (hand-computed bytes)', () => {
    const writer = new BitWriter();
    writer.write(5, 3); // 101
    writer.write(1, 1); // 1
    writer.write(0x3ff, 10); // ten ones
    writer.write(2, 2); // 10
    // bits 0..15: 1 0 1 1 | 1111111111 | 0 1 → byte 0 = 0b11111101, byte 1 = 0b10111111
    expect(Array.from(writer.finish())).toEqual([0b11111101, 0b10111111]);
    const reader = new BitReader(new Uint8Array([0b11111101, 0b10111111]));
    expect([reader.read(3), reader.read(1), reader.read(10), reader.read(2)]).toEqual([5, 1, 0x3ff, 2]);
    expect(() => reader.read(1)).toThrow(RangeError);
  });

  it('bit widths of real vocabularies', () => {
    expect([
      bitWidth(1),
      bitWidth(2),
      bitWidth(3),
      bitWidth(11),
      bitWidth(32000),
      bitWidth(32768),
      bitWidth(32769),
    ]).toEqual([1, 1, 2, 4, 15, 15, 16]);
    expect(bitWidth(151_936)).toBe(18);
    expect(bitWidth(2 ** 31)).toBe(31);
    expect(packedBytes(10, 15)).toBe(19);
  });

  it('round-trips any values at any width from 1 to 32 (property)', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc
            .integer({ min: 1, max: 32 })
            .chain((width) => fc.tuple(fc.constant(width), fc.integer({ min: 0, max: 2 ** width - 1 }))),
          { maxLength: 200 },
        ),
        (items) => {
          const writer = new BitWriter(16);
          for (const [width, value] of items) writer.write(value, width);
          const totalBits = items.reduce((sum, [width]) => sum + width, 0);
          expect(writer.byteLength).toBe(Math.ceil(totalBits / 8));
          const bytes = writer.finish();
          expect(bytes.length).toBe(Math.ceil(totalBits / 8));
          const reader = new BitReader(bytes);
          for (const [width, value] of items) expect(reader.read(width)).toBe(value);
          expect(reader.position).toBe(totalBits);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('a fixed-width stream equals the reference "value i at bits [i·w, (i+1)·w)" (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 24 }), fc.array(fc.nat(), { maxLength: 64 }), (width, raw) => {
        const values = raw.map((v) => v % 2 ** width);
        const writer = new BitWriter();
        writer.writeAll(values, width);
        const bytes = writer.finish();
        for (const [index, value] of values.entries()) {
          let decoded = 0;
          for (let bit = 0; bit < width; bit++) {
            const position = index * width + bit;
            decoded += ((bytes[position >> 3]! >> (position & 7)) & 1) * 2 ** bit;
          }
          expect(decoded).toBe(value);
        }
      }),
    );
  });
});
