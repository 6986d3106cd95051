import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createRandom } from '@fusechat/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { pythonUnavailable, runReference } from '../test/python-reference.js';
import { useTempDir } from '../test/temp-dir.js';
import { bfloat16ToFloat32, float32ToBfloat16 } from './bfloat16.js';

const dir = useTempDir('bfloat16');
const fromBits = (...bits: number[]) => new Float32Array(new Uint32Array(bits).buffer);

describe('bfloat16', () => {
  it('decodes hand-picked patterns', () => {
    const out = bfloat16ToFloat32(new Uint16Array([0x3f80, 0xc000, 0x7f80, 0xff80, 0x8000, 0x0001, 0x7f7f]));
    expect([...out]).toEqual([1, -2, Infinity, -Infinity, -0, 2 ** -133, (2 - 2 ** -7) * 2 ** 127]);
    expect(Number.isNaN(bfloat16ToFloat32(new Uint16Array([0x7fc0]))[0])).toBe(true);
  });

  it('rounds to nearest even at hand-computed boundaries', () => {
    const out = float32ToBfloat16(
      fromBits(
        0x3f808000, // 1 + 2^-8: halfway between 0x3f80 and 0x3f81 → even 0x3f80
        0x3f818000, // halfway between 0x3f81 and 0x3f82 → even 0x3f82
        0x3f808001, // just above halfway → 0x3f81
        0x7f7fffff, // max float32 → rounds up to Inf
        0x7f7f7fff, // just below halfway above max bf16 → stays 0x7f7f
        0x00008000, // subnormal tie → 0x0000
        0x00018000, // subnormal tie → 0x0002
        0xbf808001, // negative just above halfway → 0xbf81
        0x7f800001, // signalling NaN with a low payload → must stay NaN, not Inf
      ),
    );
    expect([...out].map((h) => h.toString(16))).toEqual([
      '3f80',
      '3f82',
      '3f81',
      '7f80',
      '7f7f',
      '0',
      '2',
      'bf81',
      '7fc0',
    ]);
  });

  it('round-trips every bfloat16 exactly (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff }), (h) => {
        fc.pre(!((h & 0x7f80) === 0x7f80 && (h & 0x7f) !== 0));
        expect(float32ToBfloat16(bfloat16ToFloat32(new Uint16Array([h])))[0]).toBe(h);
      }),
      { numRuns: 5000 },
    );
  });

  it.skipIf(pythonUnavailable)('matches a float64 nearest-value reference in numpy', async () => {
    const random = createRandom(7);
    const inputs: number[] = [];
    for (let i = 0; i < 200_000; i++) inputs.push(random.uint32());
    // Exact ties and their neighbours across the exponent range.
    for (let i = 0; i < 20_000; i++) {
      const tie = ((random.uint32() & 0xffff0000) | 0x8000) >>> 0;
      inputs.push(tie, tie - 1, tie + 1);
    }
    const source = new Uint32Array(inputs);
    const inPath = join(dir(), 'in.bin');
    const outPath = join(dir(), 'out.bin');
    await writeFile(inPath, source);
    runReference('bf16', inPath, outPath);
    const file = await readFile(outPath);
    const expected = new Uint16Array(file.buffer, file.byteOffset, source.length);
    const actual = float32ToBfloat16(new Float32Array(source.buffer));
    const mismatches: string[] = [];
    for (let i = 0; i < source.length; i++)
      if (actual[i] !== expected[i] && mismatches.length < 5)
        mismatches.push(
          `0x${source[i]!.toString(16)} → ours 0x${actual[i]!.toString(16)}, ref 0x${expected[i]!.toString(16)}`,
        );
    expect(mismatches).toEqual([]);
  });

  it('gives the same bits on the packed (aligned) and element-wise (unaligned, odd tail) paths (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 0xffffffff }), { maxLength: 9 }),
        fc.nat(1),
        (words, skip) => {
          const all = new Uint32Array([0, ...words]);
          const values = new Float32Array(all.buffer, 4 * skip, all.length - skip);
          const oneByOne = [...values].map((_, k) => float32ToBfloat16(values.subarray(k, k + 1))[0]);
          const unaligned = new Uint16Array(values.length + 1).subarray(1);
          expect([...float32ToBfloat16(values)]).toEqual(oneByOne);
          expect([...float32ToBfloat16(values, unaligned)]).toEqual(oneByOne);
          const halves = new Uint16Array(values.length + 1);
          halves.set(float32ToBfloat16(values), 1);
          const decodedUnaligned = new Uint32Array(bfloat16ToFloat32(halves.subarray(1)).buffer);
          const decodedAligned = new Uint32Array(bfloat16ToFloat32(float32ToBfloat16(values)).buffer);
          expect([...decodedUnaligned]).toEqual([...decodedAligned]);
        },
      ),
    );
  });
});
