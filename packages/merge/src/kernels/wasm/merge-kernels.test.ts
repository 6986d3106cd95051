import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs build script without types
import { assembleKernels, kernelsModuleSource } from '../../../scripts/build-kernels.mjs';
import { KEEP_ALL, KEEP_NONE, type TrimCut, trimAndMixTwoChecked } from '../sign-consensus.js';
import { findThreshold } from '../top-k.js';
import { addSquaredChange, mixChecked, TwoModelDeltas } from '../weighted-sum.js';
import {
  allocateKernelArrays,
  arenaKernels,
  mergeKernelsAvailable,
  releaseKernelArrays,
} from './kernel-arena.js';

/** Split every range ≥ 64 bytes with the helper thread (the default only splits ≥ 1 MiB). */
const SPLIT = { helperThread: true, splitMinBytes: 64 } as const;

/** xorshift32 values with the cases that break careless SIMD: ±0, subnormals, huge, exact halves. */
function sample(length: number, seed: number): Float32Array {
  let state = seed >>> 0 || 1;
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    const u = (state >>> 0) / 4294967296;
    out[i] =
      u < 0.04
        ? 0
        : u < 0.08
          ? -0
          : u < 0.12
            ? 1e-40 * (u - 0.1) // subnormal float32
            : u < 0.14
              ? 3e38 * Math.sign(u - 0.13)
              : u < 0.18
                ? 0.5
                : (u - 0.5) * 3;
  }
  return out;
}

const bits = (values: Float32Array) =>
  Array.from(new Uint32Array(values.buffer, values.byteOffset, values.length));

/** The float64 reference, written out: Math.fround(0 + c0·x0 + c1·x1 + …) left to right. */
function referenceMix(
  arrays: Float32Array[],
  coefficients: number[],
): { out: Float32Array; finite: boolean } {
  const out = new Float32Array(arrays[0]!.length);
  let finite = true;
  for (let i = 0; i < out.length; i++) {
    let sum = 0;
    for (let j = 0; j < arrays.length; j++) sum = sum + coefficients[j]! * arrays[j]![i]!;
    out[i] = sum;
    if (!Number.isFinite(out[i]!)) finite = false;
  }
  return { out, finite };
}

describe('merge WebAssembly kernels', () => {
  it('the committed binary is what merge-kernels.wat assembles to', async () => {
    const committed = readFileSync(join(import.meta.dirname, 'merge-kernels-binary.ts'), 'utf8');
    expect(committed).toBe(kernelsModuleSource(await assembleKernels()));
  });

  it('run on Node 20 (WebAssembly SIMD)', () => {
    expect(mergeKernelsAvailable()).toBe(true);
  });

  for (const [count, options, label] of [
    [2, {}, ''],
    [3, {}, ''],
    [2, SPLIT, ', split with the helper thread'],
    [3, SPLIT, ', split with the helper thread'],
  ] as const) {
    it(`mix${count} is bit-identical to the float64 loop: every tail length, unaligned views, in place${label}`, () => {
      for (const length of [0, 1, 2, 3, 4, 5, 7, 8, 9, 31, 40_001]) {
        for (const coefficients of [
          [0.25, 0.75, -1.5],
          [1 / 3, 1 / 3, 1 / 3],
          [-0.3, 1e-3, 2.5],
        ]) {
          const c = coefficients.slice(0, count);
          // Element offset 1: views that start off a 16-byte boundary.
          const [outView, ...views] = allocateKernelArrays(
            [length + 1, ...Array(count).fill(length + 1)],
            options,
          )!.map((array) => array.subarray(1));
          const inputs = views.map((view, j) => {
            view.set(sample(length, 7 + 13 * j + length));
            return view;
          });
          const expected = referenceMix(
            inputs.map((view) => view.slice()),
            c,
          );
          expect(arenaKernels(outView!, ...inputs)).toBeDefined();
          expect(mixChecked(outView!, inputs, c)).toBe(expected.finite);
          expect(bits(outView!)).toEqual(bits(expected.out));
          // In place into the first input, as linear does.
          expect(mixChecked(inputs[0]!, inputs, c)).toBe(expected.finite);
          expect(bits(inputs[0]!)).toEqual(bits(expected.out));
          releaseKernelArrays(outView!);
        }
      }
    });
  }

  it('mix reports non-finite results in the vector body and in the tail', () => {
    for (const at of [0, 5, 8, 10]) {
      const [out, a, b] = allocateKernelArrays([11, 11, 11])!;
      a!.fill(1);
      b!.fill(2);
      expect(mixChecked(out!, [a!, b!], [0.5, 0.5])).toBe(true);
      a![at] = at % 2 === 0 ? Number.NaN : 3e38;
      b![at] = 3e38;
      expect(mixChecked(out!, [a!, b!], [1, 1])).toBe(false);
    }
  });

  it('squared changes equal the float64 sums in index order, piece by piece', () => {
    for (const models of [1, 2, 3]) {
      const length = 10_007;
      const [base, ...arrays] = allocateKernelArrays(Array(models + 1).fill(length))!;
      base!.set(sample(length, 3));
      for (const [j, array] of arrays.entries()) array.set(sample(length, 100 + j));
      const sums = new Float64Array(models);
      for (const [start, end] of [
        [0, 4096],
        [4096, 4097],
        [4097, length],
      ] as const)
        addSquaredChange(sums, arrays, base!, start, end);
      const expected = arrays.map((array) => {
        let sum = 0;
        for (let i = 0; i < length; i++) {
          const d = array[i]! - base![i]!;
          sum += d * d;
        }
        return sum;
      });
      expect(Array.from(sums)).toEqual(expected);
    }
  });

  it('arrays outside one arena run the JS loops (same results)', () => {
    const [a, b] = allocateKernelArrays([5, 5])!;
    const plain = new Float32Array(5);
    expect(arenaKernels(a!, b!)).toBeDefined();
    expect(arenaKernels(a!, plain)).toBeUndefined();
    const [other] = allocateKernelArrays([5])!;
    expect(arenaKernels(a!, other!)).toBeUndefined();
    a!.set([1, 2, 3, 4, 5]);
    b!.set([5, 4, 3, 2, 1]);
    expect(mixChecked(plain, [a!, b!], [0.5, 0.5])).toBe(true);
    expect(Array.from(plain)).toEqual([3, 3, 3, 3, 3]);
  });

  it('refuses arenas beyond the 4 GiB a wasm32 memory addresses', () => {
    expect(allocateKernelArrays([2 ** 30, 1])).toBeUndefined();
  });

  /** Arena copies of plain arrays (element offset 1: views off a 16-byte boundary). */
  const inArena = (...arrays: Float32Array[]) => inArenaWith({}, ...arrays);
  const inArenaWith = (
    options: { helperThread?: boolean; splitMinBytes?: number },
    ...arrays: Float32Array[]
  ) =>
    allocateKernelArrays(
      arrays.map((array) => array.length + 1),
      options,
    )!.map((view, j) => {
      const shifted = view.subarray(1);
      shifted.set(arrays[j]!);
      return shifted;
    });

  /** Deltas with many exact ties and zeros (quantised), or plain random ones. */
  const deltaLike = (length: number, seed: number, quantised: boolean) => {
    const values = sample(length, seed);
    if (quantised) for (let i = 0; i < length; i++) values[i] = Math.round(values[i]! * 8) / 64;
    return values;
  };

  it('TIES deltas: the same deltas, histograms and float64 sums as the JS pass, piece by piece', () => {
    for (const [length, quantised] of [
      [0, false],
      [5, false],
      [40_003, false],
      [40_003, true],
    ] as const) {
      const base = deltaLike(length, 1, false);
      const first = deltaLike(length, 2, quantised);
      const second = deltaLike(length, 3, quantised);
      const run = (arrays: Float32Array[]) => {
        const [b, f, s] = arrays as [Float32Array, Float32Array, Float32Array];
        const pass = new TwoModelDeltas(f, s, b);
        for (const [start, end] of [
          [0, Math.min(length, 7)],
          [Math.min(length, 7), Math.min(length, 8192)],
          [Math.min(length, 8192), length],
        ])
          pass.advance(start, end);
        const h1 = new Uint32Array(65536).fill(1);
        const h2 = new Uint32Array(65536);
        const sums = pass.finish(h1, h2);
        return { sums, f: bits(f), s: bits(s), h1: Array.from(h1), h2: Array.from(h2) };
      };
      const plain = run([base.slice(), first.slice(), second.slice()]);
      const arena = inArena(base, first, second);
      expect(arenaKernels(...arena)).toBeDefined();
      expect(run(arena)).toEqual(plain);
      // The counters are free again: a second pass on the same arena also runs in WebAssembly.
      expect(arenaKernels(...arena)!.claimCounts({})).toBe(true);
    }
  });

  it('two live TIES passes on one arena: the second runs the JS loop, same results', () => {
    const [b, f, s, f2, s2] = inArena(...[1, 2, 3, 2, 3].map((seed) => deltaLike(1000, seed, false)));
    const first = new TwoModelDeltas(f!, s!, b!);
    const second = new TwoModelDeltas(f2!, s2!, b!);
    first.advance(0, 1000);
    second.advance(0, 1000);
    const histograms = () => [new Uint32Array(65536), new Uint32Array(65536)] as const;
    const [a1, a2] = histograms();
    const [c1, c2] = histograms();
    expect(first.finish(a1, a2)).toEqual(second.finish(c1, c2));
    expect(Array.from(a1)).toEqual(Array.from(c1));
    expect(bits(f!)).toEqual(bits(f2!));
  });

  it('nth_equal finds the n-th word equal to a target (sign ignored) at every position', () => {
    for (const length of [0, 1, 3, 4, 5, 17, 1000]) {
      const [values] = allocateKernelArrays([length])!;
      const words = new Uint32Array(values!.buffer, values!.byteOffset, length);
      let state = length + 1;
      for (let i = 0; i < length; i++) {
        state = (state * 1103515245 + 12345) >>> 0;
        // About one word in seven is the target, with either sign.
        words[i] = state % 7 === 0 ? 0x3f800000 | (state & 0x80000000) : state >>> 1;
      }
      const matches = [...words.keys()].filter((i) => (words[i]! & 0x7fffffff) === 0x3f800000);
      const kernels = arenaKernels(values!)!;
      for (let n = 1; n <= matches.length + 1; n++)
        expect(kernels.exports.nth_equal(words.byteOffset, length, 0x3f800000, n)).toBe(matches[n - 1] ?? -1);
    }
  });

  it('SCE selected squares: the float64 sums in index order; unselected NaN/∞ deltas still poison them', () => {
    for (const poison of [false, true]) {
      for (const length of [0, 3, 4, 9, 1003]) {
        const [first, second, scores] = allocateKernelArrays([length, length, length])!;
        first!.set(sample(length, 31));
        second!.set(sample(length, 32));
        const scoreBits = new Uint32Array(scores!.buffer, scores!.byteOffset, length);
        for (let i = 0; i < length; i++) scoreBits[i] = (i * 2654435761) >>> 1;
        const below = 0x7000_0000; // about one score in eight is above it: selected
        if (poison && length > 5) {
          first![length - 2] = Number.POSITIVE_INFINITY;
          scoreBits[length - 2] = 0; // unselected
        }
        let firstSum = 0;
        let secondSum = 0;
        for (let i = 0; i < length; i++) {
          const selected = (below - (scoreBits[i]! & 0x7fffffff)) >>> 31;
          firstSum += selected * first![i]! * first![i]!;
          secondSum += selected * second![i]! * second![i]!;
        }
        const kernels = arenaKernels(first!)!;
        kernels.scratch.fill(0);
        kernels.exports.sce_selected_squares(
          first!.byteOffset,
          second!.byteOffset,
          scores!.byteOffset,
          0,
          length * 4,
          below,
          kernels.scratchPointer,
        );
        expect([kernels.scratch[0], kernels.scratch[1]]).toEqual([firstSum, secondSum]);
        if (poison && length > 5) expect(Number.isNaN(firstSum)).toBe(true);
      }
    }
  });

  it('radix select: the same threshold, tie count and last kept tie as the JS pass (split or not)', () => {
    for (const quantised of [false, true]) {
      const values = deltaLike(30_001, 9, quantised);
      const plainBits = new Uint32Array(values.buffer.slice(0));
      const [arenaValues] = inArenaWith(quantised ? SPLIT : {}, values);
      const arenaBits = new Uint32Array(arenaValues!.buffer, arenaValues!.byteOffset, arenaValues!.length);
      for (const k of [1, 2, 100, 15_000, 30_000]) {
        for (const locate of [false, true]) {
          expect(findThreshold(arenaBits, k, undefined, locate)).toEqual(
            findThreshold(plainBits, k, undefined, locate),
          );
        }
      }
    }
  });

  it('TIES mix: bit-identical to the JS loop for every cut, tails, weights ±1 and 0.5, lambda, split or not', () => {
    const length = 10_005;
    for (const [quantised, options] of [
      [false, {}],
      [true, {}],
      [false, SPLIT],
      [true, SPLIT],
    ] as const) {
      const base = deltaLike(length, 21, false);
      const first = deltaLike(length, 22, quantised);
      const second = deltaLike(length, 23, quantised);
      const cuts: TrimCut[] = [
        KEEP_ALL,
        KEEP_NONE,
        { below: 0x3e000000, until: Number.POSITIVE_INFINITY },
        { below: 0x3d800000, until: 4097 },
        { below: 0x3c000000, until: 3 },
      ];
      // One arena per setting, refilled for each case (one helper thread, not one per case).
      const arena = inArenaWith(options, base, first, second);
      for (const [firstCut, secondCut] of cuts.flatMap((a) => cuts.map((b) => [a, b] as const))) {
        for (const [w1, w2, lambda] of [
          [1, 1, 1],
          [-1, -1, 0.7],
          [0.5, 0.5, 1.3],
        ] as const) {
          const plain = [base.slice(), first.slice(), second.slice()] as const;
          arena.forEach((view, j) => {
            view.set(plain[j]!);
          });
          const expectedFinite = trimAndMixTwoChecked(...plain, firstCut, secondCut, w1, w2, true, lambda);
          const finite = trimAndMixTwoChecked(
            arena[0]!,
            arena[1]!,
            arena[2]!,
            firstCut,
            secondCut,
            w1,
            w2,
            true,
            lambda,
          );
          expect(finite).toBe(expectedFinite);
          expect(bits(arena[0]!)).toEqual(bits(plain[0]));
          expect(bits(arena[1]!)).toEqual(bits(plain[1]));
          expect(bits(arena[2]!)).toEqual(bits(plain[2]));
        }
      }
      releaseKernelArrays(arena[0]!);
    }
  });

  it('the helper thread splits a large range: the same result, and the arena works after release', () => {
    const length = 1 << 20; // 4 MiB per array: above the default split threshold
    const [out, a, b] = allocateKernelArrays([length, length, length], { helperThread: true })!;
    a!.set(sample(length, 5));
    b!.set(sample(length, 6));
    const expected = referenceMix([a!.slice(), b!.slice()], [0.3, 0.7]);
    expect(mixChecked(out!, [a!, b!], [0.3, 0.7])).toBe(expected.finite);
    expect(bits(out!)).toEqual(bits(expected.out));
    releaseKernelArrays(out!);
    out!.fill(0);
    expect(mixChecked(out!, [a!, b!], [0.3, 0.7])).toBe(expected.finite);
    expect(bits(out!)).toEqual(bits(expected.out));
  });
});
