import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createRandom } from '@fusechat/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { pythonUnavailable, runReference } from '../test/python-reference.js';
import { useTempDir } from '../test/temp-dir.js';
import { float16ToFloat32, float32ToFloat16 } from './float16.js';

const dir = useTempDir('float16');
const f32 = (...values: number[]) => new Float32Array(values);
const isHalfNaN = (h: number) => (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;

describe('float16ToFloat32', () => {
  it('decodes hand-picked patterns', () => {
    const bits = new Uint16Array([
      0x3c00, 0xc000, 0x7bff, 0x0001, 0x03ff, 0x0400, 0x8000, 0x7c00, 0xfc00, 0x3555,
    ]);
    const out = float16ToFloat32(bits);
    expect([...out]).toEqual([
      1,
      -2,
      65504,
      2 ** -24,
      1023 * 2 ** -24,
      2 ** -14,
      -0,
      Infinity,
      -Infinity,
      0.333251953125,
    ]);
    expect(Object.is(out[6], -0)).toBe(true);
    expect(Number.isNaN(float16ToFloat32(new Uint16Array([0x7e00]))[0])).toBe(true);
  });

  it('writes into a given output and checks its length', () => {
    const out = new Float32Array(2);
    expect(float16ToFloat32(new Uint16Array([0x3c00, 0x4000]), out)).toBe(out);
    expect(out[1]).toBe(2);
    expect(() => float16ToFloat32(new Uint16Array(3), out)).toThrow(/same length/);
  });

  it.skipIf(pythonUnavailable)('matches numpy on all 65536 patterns, bit for bit', async () => {
    const path = join(dir(), 'decode.bin');
    runReference('f16decode', path);
    const file = await readFile(path);
    const expected = new Uint32Array(file.buffer, file.byteOffset, 65536);
    const all = new Uint16Array(65536).map((_, i) => i);
    const actual = new Uint32Array(float16ToFloat32(all).buffer);
    let mismatches = 0;
    for (let i = 0; i < 65536; i++) if (actual[i] !== expected[i]) mismatches++;
    expect(mismatches).toBe(0);
  });
});

describe('float32ToFloat16', () => {
  it('rounds to nearest even at hand-computed boundaries', () => {
    const cases: Array<[number, number]> = [
      [1, 0x3c00],
      [-2, 0xc000],
      [65504, 0x7bff],
      [65519.99, 0x7bff],
      [65520, 0x7c00], // halfway to 65536: ties to even (Inf)
      [1e10, 0x7c00],
      [-Infinity, 0xfc00],
      [2 ** -25, 0x0000], // halfway between 0 and the smallest subnormal: even is 0
      [2 ** -25 * 1.5, 0x0001],
      [3 * 2 ** -25, 0x0002], // halfway between 1 and 2 (subnormal units): even is 2
      [5 * 2 ** -25, 0x0002], // halfway between 2 and 3: even is 2
      [2 ** -14, 0x0400],
      [2 ** -14 - 2 ** -25, 0x0400], // halfway between 0x3ff and 0x400: even is 0x400
      [1 + 2 ** -11, 0x3c00], // halfway between 0x3c00 and 0x3c01: even is 0x3c00
      [1 + 3 * 2 ** -11, 0x3c02], // halfway between 0x3c01 and 0x3c02: even is 0x3c02
      [1e-30, 0x0000],
      [-0, 0x8000],
    ];
    const out = float32ToFloat16(f32(...cases.map(([x]) => x)));
    expect(cases.map(([x], i) => [x, out[i]])).toEqual(cases);
    expect(isHalfNaN(float32ToFloat16(f32(Number.NaN))[0]!)).toBe(true);
    // A NaN whose payload sits only in the low 13 bits must not turn into Infinity.
    const nan = new Float32Array(new Uint32Array([0xff800001]).buffer);
    const half = float32ToFloat16(nan)[0]!;
    expect(isHalfNaN(half) && half >= 0x8000).toBe(true);
  });

  it('round-trips every finite half exactly (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff }), (h) => {
        fc.pre(!isHalfNaN(h));
        expect(float32ToFloat16(float16ToFloat32(new Uint16Array([h])))[0]).toBe(h);
      }),
      { numRuns: 5000 },
    );
  });

  it.skipIf(pythonUnavailable)(
    'matches numpy astype(float16) on boundaries and random bit patterns',
    async () => {
      const inputs: number[] = [];
      const decoded = new Uint32Array(float16ToFloat32(new Uint16Array(65536).map((_, i) => i)).buffer);
      // Each finite half, the midpoints to its neighbour, and one float32 ulp either side of them.
      for (let h = 0; h < 0x7c00; h++) {
        const low = decoded[h]!;
        const high = decoded[h + 1]!;
        const mid = new Float32Array([
          (new Float32Array(new Uint32Array([low]).buffer)[0]! +
            new Float32Array(new Uint32Array([high]).buffer)[0]!) /
            2,
        ]);
        const midBits = new Uint32Array(mid.buffer)[0]!;
        for (const bits of [low, midBits - 1, midBits, midBits + 1]) {
          inputs.push(bits, (bits | 0x80000000) >>> 0);
        }
      }
      const random = createRandom(16);
      for (let i = 0; i < 300_000; i++) inputs.push(random.uint32());
      const source = new Uint32Array(inputs);
      const inPath = join(dir(), 'encode-in.bin');
      const outPath = join(dir(), 'encode-out.bin');
      await writeFile(inPath, source);
      runReference('f16', inPath, outPath);
      const file = await readFile(outPath);
      const expected = new Uint16Array(file.buffer, file.byteOffset, source.length);
      const actual = float32ToFloat16(new Float32Array(source.buffer));
      const mismatches: string[] = [];
      for (let i = 0; i < source.length; i++) {
        const a = actual[i]!;
        const e = expected[i]!;
        const same = isHalfNaN(e) ? isHalfNaN(a) && (a & 0x8000) === (e & 0x8000) : a === e;
        if (!same && mismatches.length < 5)
          mismatches.push(
            `0x${source[i]!.toString(16)} → ours 0x${a.toString(16)}, numpy 0x${e.toString(16)}`,
          );
      }
      expect(mismatches).toEqual([]);
    },
  );

  it('gives the same bits on the packed (aligned) and element-wise (unaligned, odd tail) paths (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 0xffffffff }), { maxLength: 9 }),
        fc.nat(1),
        (words, skip) => {
          const all = new Uint32Array([0, ...words]);
          const values = new Float32Array(all.buffer, 4 * skip, all.length - skip);
          const oneByOne = [...values].map((_, k) => float32ToFloat16(values.subarray(k, k + 1))[0]);
          const unaligned = new Uint16Array(values.length + 1).subarray(1);
          expect([...float32ToFloat16(values)]).toEqual(oneByOne);
          expect([...float32ToFloat16(values, unaligned)]).toEqual(oneByOne);
          const halves = new Uint16Array(values.length + 1);
          halves.set(float32ToFloat16(values), 1);
          const decodedUnaligned = new Uint32Array(float16ToFloat32(halves.subarray(1)).buffer);
          const decodedAligned = new Uint32Array(float16ToFloat32(float32ToFloat16(values)).buffer);
          expect([...decodedUnaligned]).toEqual([...decodedAligned]);
        },
      ),
    );
  });
});
