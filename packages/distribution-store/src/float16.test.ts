import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { float16Bits, float16FromKey, float16Key, float16Value } from './float16.js';
import { referenceFloat16 } from './testing/reference-float16.js';

describe('float16', () => {
  it('matches a hand-computed table (ties to even, subnormals, overflow)', () => {
    const table: [number, number][] = [
      [1, 0x3c00],
      [-2.5, 0xc100],
      [65504, 0x7bff],
      [65519.99, 0x7bff],
      [65520, 0x7c00],
      [2 ** -24, 0x0001],
      [2 ** -25, 0x0000], // halfway to the smallest subnormal: ties to even (0)
      [1.5 * 2 ** -24, 0x0002], // halfway between 1 and 2 subnormal ulps: to even (2)
      [1 + 2 ** -11, 0x3c00], // halfway between 1 and 1 + 2^-10: to even
      [1 + 3 * 2 ** -11, 0x3c02],
      [-0, 0x8000],
      [Number.NEGATIVE_INFINITY, 0xfc00],
    ];
    for (const [value, bits] of table) expect([value, float16Bits(value)]).toEqual([value, bits]);
    expect(float16Bits(Number.NaN)).toBe(0x7e00);
    expect(float16Value(0x3c00)).toBe(1);
    expect(float16Value(0xc100)).toBe(-2.5);
    expect(float16Value(0x0001)).toBe(2 ** -24);
    expect(float16Value(0x7c00)).toBe(Number.POSITIVE_INFINITY);
    expect(Number.isNaN(float16Value(0x7e00))).toBe(true);
  });

  it('rounds every float32 as the reference rounding does (property)', () => {
    fc.assert(
      fc.property(fc.float({ noNaN: true, min: -65500, max: 65500 }), (value) => {
        expect(float16Value(float16Bits(value))).toBe(referenceFloat16(value));
      }),
      { numRuns: 20_000 },
    );
  });

  it('decodes every finite half exactly and re-encodes it to the same bits', () => {
    for (let bits = 0; bits < 65536; bits++) {
      if ((bits & 0x7c00) === 0x7c00) continue;
      const value = float16Value(bits);
      expect(referenceFloat16(value)).toBe(value);
      expect(float16Bits(value)).toBe(bits);
    }
  });

  it('keys sort as the values do and invert exactly (property)', () => {
    const finite = fc.integer({ min: 0, max: 0xffff }).filter((bits) => (bits & 0x7c00) !== 0x7c00);
    fc.assert(
      fc.property(finite, finite, (a, b) => {
        expect(float16FromKey(float16Key(a))).toBe(a);
        const [va, vb] = [float16Value(a), float16Value(b)];
        if (va < vb) expect(float16Key(a)).toBeLessThan(float16Key(b));
        if (va > vb) expect(float16Key(a)).toBeGreaterThan(float16Key(b));
      }),
      { numRuns: 5000 },
    );
    expect(float16Key(0x8000) + 1).toBe(float16Key(0x0000)); // −0 just below +0
  });
});
