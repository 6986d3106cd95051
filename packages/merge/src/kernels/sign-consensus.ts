import { arenaKernels } from './wasm/kernel-arena.js';

/**
 * Fused two-model kernels for TIES-style sign consensus. One pass per element instead of a trim
 * pass per model plus a mix pass; bit-identical to trimming with `keepLargestMagnitudes` and then
 * running the straightforward two-model consensus loop (see sign-consensus.test.ts).
 */

const SIGN_CLEAR = 0x7fffffff;
const MIN_FAST_WEIGHT = 2 ** -100;
const MAX_FAST_WEIGHT = 2 ** 100;

const probe = new Float64Array(1);
const probeBits = new Uint32Array(probe.buffer);

/** True for ±2^e, finite and non-zero: then `x / d === x * (1 / d)` exactly for every x. */
function isPowerOfTwo(value: number): boolean {
  probe[0] = value;
  const exponent = (probeBits[1]! >>> 20) & 0x7ff;
  return exponent !== 0 && exponent !== 0x7ff && probeBits[0] === 0 && (probeBits[1]! & 0xfffff) === 0;
}

/**
 * A magnitude-trim cut for {@link trimAndMixTwo}: entries at indices `< until` are kept when their
 * sign-cleared bits exceed `below`, later ones when they exceed `below + 1` (so ties at a threshold
 * `t = below + 1` are kept up to index `until − 1`, in index order, as `keepLargestMagnitudes`).
 */
export interface TrimCut {
  readonly below: number;
  readonly until: number;
}

/** Keeps everything (`-1` is below every magnitude). */
export const KEEP_ALL: TrimCut = { below: -1, until: Number.POSITIVE_INFINITY };
/** Keeps nothing (every magnitude, ±Infinity and NaN included, is at most 0x7fffffff). */
export const KEEP_NONE: TrimCut = { below: 0x7fffffff, until: Number.POSITIVE_INFINITY };

/**
 * In place into `base`: TIES' disjoint mean of two deltas, each first trimmed by its {@link TrimCut}
 * (the trimmed deltas are written back, as `keepLargestMagnitudes`
 * leaves them). Per element: majority sign of `w1 δ1 + w2 δ2` (≥ 0 → +, from the float32-rounded
 * sum's sign bit), keep non-zero deltas agreeing with it, `Σ kept wj δj` divided (when `normalize`)
 * by `Σ kept wj` (1 when none kept; the plain sum when that division is not finite), times `lambda`.
 *
 * Per-element work is branch-free. When `|w1| = |w2|` the majority comes from integer compares of
 * the magnitude bits (the larger magnitude's sign wins; equal magnitudes of opposite signs sum to
 * +0), and when every possible divisor is a power of two the division is a multiplication by its
 * exact reciprocal; otherwise the float32 round trip and the division are kept.
 */
export function trimAndMixTwo(
  base: Float32Array,
  first: Float32Array,
  second: Float32Array,
  firstCut: TrimCut,
  secondCut: TrimCut,
  firstWeight: number,
  secondWeight: number,
  normalize: boolean,
  lambda: number,
): Float32Array {
  trimAndMixTwoChecked(
    base,
    first,
    second,
    firstCut,
    secondCut,
    firstWeight,
    secondWeight,
    normalize,
    lambda,
  );
  return base;
}

/**
 * {@link trimAndMixTwo} returning whether every merged (float32) value is finite, checked in the
 * same pass (the engine then skips its own scan).
 */
export function trimAndMixTwoChecked(
  base: Float32Array,
  first: Float32Array,
  second: Float32Array,
  firstCut: TrimCut,
  secondCut: TrimCut,
  firstWeight: number,
  secondWeight: number,
  normalize: boolean,
  lambda: number,
): boolean {
  const length = base.length;
  const firstBits = new Uint32Array(first.buffer, first.byteOffset, length);
  const secondBits = new Uint32Array(second.buffer, second.byteOffset, length);
  const firstSign = firstWeight < 0 ? 1 : 0;
  const secondSign = secondWeight < 0 ? 1 : 0;
  const magnitude = Math.abs(firstWeight);
  const integerMajority =
    magnitude === Math.abs(secondWeight) && magnitude >= MIN_FAST_WEIGHT && magnitude <= MAX_FAST_WEIGHT;
  // Divisor per (keepA, keepB), computed with the exact expression of the per-element formula.
  const divisors = new Float64Array(4);
  const reciprocals = new Float64Array(4);
  let useReciprocal = true;
  for (let code = 0; code < 4; code++) {
    const keepA = code >> 1;
    const keepB = code & 1;
    const divisor = keepA * firstWeight + keepB * secondWeight + ((keepA + keepB - 1) >>> 31);
    divisors[code] = divisor;
    reciprocals[code] = 1 / divisor;
    if (!isPowerOfTwo(divisor)) useReciprocal = false;
  }
  // Up to three index ranges, each with a fixed pair of cuts.
  const bounds = [0, length];
  for (const until of [firstCut.until, secondCut.until]) if (until > 0 && until < length) bounds.push(until);
  bounds.sort((x, y) => x - y);
  let check = 0;
  for (let range = 0; range + 1 < bounds.length; range++) {
    const start = bounds[range]!;
    const end = bounds[range + 1]!;
    if (start === end) continue;
    check += (integerMajority ? mixRangeByMagnitude : mixRangeBySum)(
      base,
      first,
      second,
      firstBits,
      secondBits,
      start,
      end,
      start < firstCut.until ? firstCut.below : firstCut.below + 1,
      start < secondCut.until ? secondCut.below : secondCut.below + 1,
      firstWeight,
      secondWeight,
      firstSign,
      secondSign,
      normalize,
      useReciprocal,
      divisors,
      reciprocals,
      lambda,
    );
  }
  return check === 0;
}

// Two loops rather than a flag: a typed-array store on either side of a branch in the loop
// slows the whole loop ≈2× in V8 (measured).
function mixRangeByMagnitude(
  base: Float32Array,
  first: Float32Array,
  second: Float32Array,
  firstBits: Uint32Array,
  secondBits: Uint32Array,
  start: number,
  end: number,
  firstBelow: number,
  secondBelow: number,
  firstWeight: number,
  secondWeight: number,
  firstSign: number,
  secondSign: number,
  normalize: boolean,
  useReciprocal: boolean,
  divisors: Float64Array,
  reciprocals: Float64Array,
  lambda: number,
): number {
  if (normalize && useReciprocal) {
    const kernels = arenaKernels(base, first, second);
    if (kernels !== undefined)
      return kernels
        .split('ties_mix_magnitude', start * 4, end * 4, (lo, hi) => [
          base.byteOffset,
          first.byteOffset,
          second.byteOffset,
          lo,
          hi,
          firstBelow,
          secondBelow,
          firstWeight,
          secondWeight,
          firstSign,
          secondSign,
          reciprocals[0]!,
          reciprocals[1]!,
          reciprocals[2]!,
          reciprocals[3]!,
          lambda,
        ])
        .reduce((a, b) => a + b, 0);
    return mixRangeByMagnitudeReciprocal(
      base,
      first,
      second,
      firstBits,
      secondBits,
      start,
      end,
      firstBelow,
      secondBelow,
      firstWeight,
      secondWeight,
      firstSign,
      secondSign,
      reciprocals,
      lambda,
    );
  }
  // value − value: 0 when finite, NaN otherwise; summed, one NaN poisons the check.
  let check = 0;
  for (let i = start; i < end; i++) {
    const u0 = firstBits[i]!;
    const v0 = secondBits[i]!;
    const u = u0 & ((firstBelow - (u0 & SIGN_CLEAR)) >> 31);
    const v = v0 & ((secondBelow - (v0 & SIGN_CLEAR)) >> 31);
    firstBits[i] = u;
    secondBits[i] = v;
    const a = firstWeight * first[i]!;
    const b = secondWeight * second[i]!;
    const signA = (u >>> 31) ^ firstSign;
    const signB = (v >>> 31) ^ secondSign;
    const magnitudeA = u & SIGN_CLEAR;
    const magnitudeB = v & SIGN_CLEAR;
    // |w1| = |w2|: the sign of a + b is the sign of the larger magnitude (+0 when equal and opposite).
    const majority =
      (signA & signB) |
      (((magnitudeB - magnitudeA) >>> 31) & signA) |
      (((magnitudeA - magnitudeB) >>> 31) & signB);
    // 1 when the weighted delta's sign agrees with the majority and the delta is not ±0.
    const keepA = 1 - ((signA ^ majority) | ((magnitudeA - 1) >>> 31));
    const keepB = 1 - ((signB ^ majority) | ((magnitudeB - 1) >>> 31));
    const mixed = keepA * a + keepB * b;
    let value = mixed;
    if (normalize) {
      const code = (keepA << 1) | keepB;
      value = useReciprocal ? mixed * reciprocals[code]! : mixed / divisors[code]!;
      if (value - value !== 0) value = mixed;
    }
    const merged = Math.fround(base[i]! + lambda * value);
    base[i] = merged;
    check += merged - merged;
  }
  return check;
}

function mixRangeBySum(
  base: Float32Array,
  first: Float32Array,
  second: Float32Array,
  firstBits: Uint32Array,
  secondBits: Uint32Array,
  start: number,
  end: number,
  firstBelow: number,
  secondBelow: number,
  firstWeight: number,
  secondWeight: number,
  firstSign: number,
  secondSign: number,
  normalize: boolean,
  useReciprocal: boolean,
  divisors: Float64Array,
  reciprocals: Float64Array,
  lambda: number,
): number {
  if (normalize && useReciprocal) {
    return mixRangeBySumReciprocal(
      base,
      first,
      second,
      firstBits,
      secondBits,
      start,
      end,
      firstBelow,
      secondBelow,
      firstWeight,
      secondWeight,
      firstSign,
      secondSign,
      reciprocals,
      lambda,
    );
  }
  let check = 0;
  const rounded = new Float32Array(1);
  const roundedBits = new Uint32Array(rounded.buffer);
  for (let i = start; i < end; i++) {
    const u0 = firstBits[i]!;
    const v0 = secondBits[i]!;
    const u = u0 & ((firstBelow - (u0 & SIGN_CLEAR)) >> 31);
    const v = v0 & ((secondBelow - (v0 & SIGN_CLEAR)) >> 31);
    firstBits[i] = u;
    secondBits[i] = v;
    const a = firstWeight * first[i]!;
    const b = secondWeight * second[i]!;
    const signA = (u >>> 31) ^ firstSign;
    const signB = (v >>> 31) ^ secondSign;
    const magnitudeA = u & SIGN_CLEAR;
    const magnitudeB = v & SIGN_CLEAR;
    // The float32-rounded sum keeps the sign of a + b; +0 counts as positive.
    rounded[0] = a + b;
    const majority = roundedBits[0]! >>> 31;
    // 1 when the weighted delta's sign agrees with the majority and the delta is not ±0.
    const keepA = 1 - ((signA ^ majority) | ((magnitudeA - 1) >>> 31));
    const keepB = 1 - ((signB ^ majority) | ((magnitudeB - 1) >>> 31));
    const mixed = keepA * a + keepB * b;
    let value = mixed;
    if (normalize) {
      const code = (keepA << 1) | keepB;
      value = useReciprocal ? mixed * reciprocals[code]! : mixed / divisors[code]!;
      if (value - value !== 0) value = mixed;
    }
    const merged = Math.fround(base[i]! + lambda * value);
    base[i] = merged;
    check += merged - merged;
  }
  return check;
}

// The common case (normalize on, every divisor a power of two, e.g. TIES with weight 1) as loops
// of their own, without the per-element `normalize` branch and non-finite fallback: measured
// ≈40% less CPU per element. Dropping the fallback changes no finite result: with power-of-two
// divisors `mixed · reciprocal` is finite in float64 whenever `mixed` is (see trimAndMixTwo's
// divisor table), and a non-finite `mixed` gives a non-finite merged value either way.
function mixRangeByMagnitudeReciprocal(
  base: Float32Array,
  first: Float32Array,
  second: Float32Array,
  firstBits: Uint32Array,
  secondBits: Uint32Array,
  start: number,
  end: number,
  firstBelow: number,
  secondBelow: number,
  firstWeight: number,
  secondWeight: number,
  firstSign: number,
  secondSign: number,
  reciprocals: Float64Array,
  lambda: number,
): number {
  let check = 0;
  for (let i = start; i < end; i++) {
    const u0 = firstBits[i]!;
    const v0 = secondBits[i]!;
    const u = u0 & ((firstBelow - (u0 & SIGN_CLEAR)) >> 31);
    const v = v0 & ((secondBelow - (v0 & SIGN_CLEAR)) >> 31);
    firstBits[i] = u;
    secondBits[i] = v;
    const a = firstWeight * first[i]!;
    const b = secondWeight * second[i]!;
    const signA = (u >>> 31) ^ firstSign;
    const signB = (v >>> 31) ^ secondSign;
    const magnitudeA = u & SIGN_CLEAR;
    const magnitudeB = v & SIGN_CLEAR;
    const majority =
      (signA & signB) |
      (((magnitudeB - magnitudeA) >>> 31) & signA) |
      (((magnitudeA - magnitudeB) >>> 31) & signB);
    const keepA = 1 - ((signA ^ majority) | ((magnitudeA - 1) >>> 31));
    const keepB = 1 - ((signB ^ majority) | ((magnitudeB - 1) >>> 31));
    const value = (keepA * a + keepB * b) * reciprocals[(keepA << 1) | keepB]!;
    const merged = Math.fround(base[i]! + lambda * value);
    base[i] = merged;
    check += merged - merged;
  }
  return check;
}

function mixRangeBySumReciprocal(
  base: Float32Array,
  first: Float32Array,
  second: Float32Array,
  firstBits: Uint32Array,
  secondBits: Uint32Array,
  start: number,
  end: number,
  firstBelow: number,
  secondBelow: number,
  firstWeight: number,
  secondWeight: number,
  firstSign: number,
  secondSign: number,
  reciprocals: Float64Array,
  lambda: number,
): number {
  let check = 0;
  const rounded = new Float32Array(1);
  const roundedBits = new Uint32Array(rounded.buffer);
  for (let i = start; i < end; i++) {
    const u0 = firstBits[i]!;
    const v0 = secondBits[i]!;
    const u = u0 & ((firstBelow - (u0 & SIGN_CLEAR)) >> 31);
    const v = v0 & ((secondBelow - (v0 & SIGN_CLEAR)) >> 31);
    firstBits[i] = u;
    secondBits[i] = v;
    const a = firstWeight * first[i]!;
    const b = secondWeight * second[i]!;
    const signA = (u >>> 31) ^ firstSign;
    const signB = (v >>> 31) ^ secondSign;
    const magnitudeA = u & SIGN_CLEAR;
    const magnitudeB = v & SIGN_CLEAR;
    rounded[0] = a + b;
    const majority = roundedBits[0]! >>> 31;
    const keepA = 1 - ((signA ^ majority) | ((magnitudeA - 1) >>> 31));
    const keepB = 1 - ((signB ^ majority) | ((magnitudeB - 1) >>> 31));
    const value = (keepA * a + keepB * b) * reciprocals[(keepA << 1) | keepB]!;
    const merged = Math.fround(base[i]! + lambda * value);
    base[i] = merged;
    check += merged - merged;
  }
  return check;
}
