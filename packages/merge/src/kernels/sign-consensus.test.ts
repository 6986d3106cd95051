import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KEEP_ALL, KEEP_NONE, type TrimCut, trimAndMixTwo } from './sign-consensus.js';
import { findThreshold, keepLargestMagnitudes } from './top-k.js';
import { subtractWithMeanSquare } from './weighted-sum.js';

/** The previous two-model consensus loop (before fusion), kept verbatim as the reference. */
function previousMixTwo(
  base: Float32Array,
  first: Float32Array,
  second: Float32Array,
  firstWeight: number,
  secondWeight: number,
  normalize: boolean,
  lambda: number,
): Float32Array {
  const firstBits = new Uint32Array(first.buffer, first.byteOffset, first.length);
  const secondBits = new Uint32Array(second.buffer, second.byteOffset, second.length);
  const firstSign = firstWeight < 0 ? 1 : 0;
  const secondSign = secondWeight < 0 ? 1 : 0;
  const rounded = new Float32Array(1);
  const roundedBits = new Uint32Array(rounded.buffer);
  for (let i = 0; i < base.length; i++) {
    const a = firstWeight * first[i]!;
    const b = secondWeight * second[i]!;
    rounded[0] = a + b;
    const majority = roundedBits[0]! >>> 31;
    const u = firstBits[i]!;
    const v = secondBits[i]!;
    const keepA = 1 - (((u >>> 31) ^ firstSign ^ majority) | (((u & 0x7fffffff) - 1) >>> 31));
    const keepB = 1 - (((v >>> 31) ^ secondSign ^ majority) | (((v & 0x7fffffff) - 1) >>> 31));
    const mixed = keepA * a + keepB * b;
    let value = mixed;
    if (normalize) {
      value = mixed / (keepA * firstWeight + keepB * secondWeight + ((keepA + keepB - 1) >>> 31));
      if (value - value !== 0) value = mixed;
    }
    base[i] = base[i]! + lambda * value;
  }
  return base;
}

/** The cut the TIES method derives (same code path as generalized-task-arithmetic's trimCut). */
function cutFor(delta: Float32Array, k: number): TrimCut {
  if (k >= delta.length) return KEEP_ALL;
  if (k <= 0) return KEEP_NONE;
  const threshold = findThreshold(
    new Uint32Array(delta.buffer, delta.byteOffset, delta.length),
    k,
    undefined,
    true,
  );
  const last = threshold.lastKeptEqualIndex ?? -1;
  return { below: threshold.bits - 1, until: last < 0 ? Number.POSITIVE_INFINITY : last + 1 };
}

function bitsOf(values: Float32Array): number[] {
  return [...new Uint32Array(values.buffer, values.byteOffset, values.length)];
}

// Few distinct magnitudes (many ties at the threshold), signed zeros, and ordinary floats.
const element = fc.oneof(
  fc.constantFrom(0, -0, 1, -1, 0.5, -0.5, 2, -2, 0.25),
  fc.float({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 }),
);
const weight = fc.oneof(
  fc.constantFrom(1, -1, 0.5, 2, 0, 0.3, -0.7),
  fc.double({ noNaN: true, noDefaultInfinity: true, min: -4, max: 4 }),
);

describe('trimAndMixTwo', () => {
  it('is bit-identical to keepLargestMagnitudes + the previous two-model consensus loop', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(element, element, element), { minLength: 1, maxLength: 200 }),
        fc.double({ min: 0, max: 1.2, noNaN: true }),
        fc.double({ min: 0, max: 1.2, noNaN: true }),
        weight,
        fc.boolean(),
        fc.boolean(),
        fc.constantFrom(1, 0.7, -1),
        (rows, densityA, densityB, firstWeight, equalWeights, normalize, lambda) => {
          const secondWeight = equalWeights ? -firstWeight : firstWeight * 0.75 + 0.1;
          const base = Float32Array.from(rows.map((row) => row[0]));
          const first = Float32Array.from(rows.map((row) => row[1]));
          const second = Float32Array.from(rows.map((row) => row[2]));
          const kA = Math.floor(densityA * first.length);
          const kB = Math.floor(densityB * first.length);

          const expectedBase = base.slice();
          const expectedFirst = first.slice();
          const expectedSecond = second.slice();
          keepLargestMagnitudes(expectedFirst, kA);
          keepLargestMagnitudes(expectedSecond, kB);
          previousMixTwo(
            expectedBase,
            expectedFirst,
            expectedSecond,
            firstWeight,
            secondWeight,
            normalize,
            lambda,
          );

          const actualBase = base.slice();
          const actualFirst = first.slice();
          const actualSecond = second.slice();
          trimAndMixTwo(
            actualBase,
            actualFirst,
            actualSecond,
            cutFor(actualFirst, kA),
            cutFor(actualSecond, kB),
            firstWeight,
            secondWeight,
            normalize,
            lambda,
          );
          expect(bitsOf(actualBase)).toEqual(bitsOf(expectedBase));
          expect(bitsOf(actualFirst)).toEqual(bitsOf(expectedFirst));
          expect(bitsOf(actualSecond)).toEqual(bitsOf(expectedSecond));
        },
      ),
      { numRuns: 400 },
    );
  });

  it('handles a base of -0 where no delta survives exactly as before', () => {
    const run = (mix: (base: Float32Array, a: Float32Array, b: Float32Array) => void) => {
      const base = new Float32Array([-0, -0, -0, -0]);
      mix(base, new Float32Array([-0, 0, -0, 3]), new Float32Array([-0, -0, 0, -3]));
      return bitsOf(base);
    };
    for (const [w1, w2] of [
      [1, 1],
      [-1, -1],
      [1, -1],
      [0.3, 0.3],
      [0.3, 0.2],
    ] as const) {
      expect(run((base, a, b) => trimAndMixTwo(base, a, b, KEEP_ALL, KEEP_ALL, w1, w2, true, 1))).toEqual(
        run((base, a, b) => previousMixTwo(base, a, b, w1, w2, true, 1)),
      );
    }
  });
});

describe('subtractWithMeanSquare', () => {
  it('with a histogram matches the straightforward loop bit for bit', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(element, element), { minLength: 0, maxLength: 40 }), (rows) => {
        const base = Float32Array.from(rows.map((row) => row[0]));
        const target = Float32Array.from(rows.map((row) => row[1]));
        const histogram = new Uint32Array(65536);
        const expectedDelta = target.slice();
        let sum = 0;
        const expectedHistogram = new Uint32Array(65536);
        for (let i = 0; i < expectedDelta.length; i++) {
          const d = expectedDelta[i]! - base[i]!;
          sum += d * d;
          expectedDelta[i] = d;
        }
        for (const word of bitsOf(expectedDelta)) expectedHistogram[(word & 0x7fffffff) >>> 16]!++;
        const mean = subtractWithMeanSquare(target, base, histogram);
        expect(mean).toBe(rows.length === 0 ? 0 : sum / rows.length);
        expect(bitsOf(target)).toEqual(bitsOf(expectedDelta));
        let mismatches = 0;
        for (let b = 0; b < 65536; b++) if (histogram[b] !== expectedHistogram[b]) mismatches++;
        expect(mismatches).toBe(0);
      }),
    );
  });
});
