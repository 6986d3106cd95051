import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ByteReader, ByteWriter, readUint16Planes, Uint16List, uint16Planes } from './byte-streams.js';

describe('byte streams', () => {
  it('varints are unsigned LEB128 (hand-computed bytes)', () => {
    const writer = new ByteWriter();
    for (const value of [0, 127, 128, 300, 2 ** 32 - 1]) writer.varint(value);
    expect(Array.from(writer.contents())).toEqual([
      0, 0x7f, 0x80, 0x01, 0xac, 0x02, 0xff, 0xff, 0xff, 0xff, 0x0f,
    ]);
  });

  it('varints, u32 and f64 round-trip (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat({ max: 2 ** 32 - 1 }), fc.double())), (items) => {
        const writer = new ByteWriter(16);
        for (const [n, x] of items) {
          writer.varint(n);
          writer.uint32(n);
          writer.float64(x);
        }
        const reader = new ByteReader(writer.contents());
        for (const [n, x] of items) {
          expect(reader.varint()).toBe(n);
          expect(reader.uint32()).toBe(n);
          expect(Object.is(reader.float64(), x)).toBe(true);
        }
        expect(() => reader.byte()).toThrow(RangeError);
      }),
    );
  });

  it('16-bit planes: all low bytes, then all high bytes, over concatenated lists', () => {
    const a = new Uint16List();
    const b = new Uint16List();
    a.push(0x1234);
    b.push(0xabcd);
    b.push(0x0001);
    expect(Array.from(uint16Planes(a, b))).toEqual([0x34, 0xcd, 0x01, 0x12, 0xab, 0x00]);
    expect(Array.from(readUint16Planes(uint16Planes(a, b)))).toEqual([0x1234, 0xabcd, 0x0001]);
  });
});
