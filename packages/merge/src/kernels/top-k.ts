import { type ArenaKernels, arenaKernels } from './wasm/kernel-arena.js';

/**
 * Exact top-k selection over float32 magnitudes by a two-pass radix select on the IEEE bits: the
 * bits of a non-negative float order like unsigned integers, so 2 histogram passes of 16 bits
 * find the k-th largest value without sorting (mergekit sorts; this is O(n) and allocation-light).
 * Ties at the threshold are kept in index order.
 */
export interface Threshold {
  /** Bits (sign cleared) of the k-th largest magnitude. */
  readonly bits: number;
  /** How many elements equal to the threshold are kept (the first ones in index order). */
  readonly equalToKeep: number;
  /** How many elements equal the threshold. */
  readonly equalCount: number;
  /**
   * With `locateLastKept`: the index of the last element equal to the threshold that is kept
   * (ties are kept in index order), or -1 when every equal element is kept.
   */
  readonly lastKeptEqualIndex?: number;
}

const SIGN_CLEAR = 0x7fffffff;

/**
 * The radix select behind {@link keepLargestMagnitudes} and {@link topKMask}: the `k`-th largest of
 * the sign-cleared `bits` (`0 < k < bits.length`). `highHistogram` (65536 counts of the high 16
 * bits) saves the first pass.
 */
export function findThreshold(
  bits: Uint32Array,
  k: number,
  highHistogram?: Uint32Array,
  locateLastKept = false,
): Threshold {
  let high = highHistogram;
  if (high === undefined) {
    high = new Uint32Array(65536);
    for (let i = 0; i < bits.length; i++) high[(bits[i]! & SIGN_CLEAR) >>> 16]!++;
  }
  const { bucket: highBucket, remaining: afterHigh } = selectBucket(high, k);
  let remaining = afterHigh;
  const kernels = arenaKernels(bits);
  if (kernels !== undefined)
    return findThresholdInArena(kernels, bits, highBucket, remaining, locateLastKept);
  const low = new Uint32Array(65536);
  // The indices in the high bucket (few: one bucket of 65536) locate the last kept tie later.
  const candidates = locateLastKept ? new Uint32Array(high[highBucket]!) : undefined;
  let candidateCount = 0;
  for (let i = 0; i < bits.length; i++) {
    const value = bits[i]! & SIGN_CLEAR;
    if (value >>> 16 === highBucket) {
      low[value & 0xffff]!++;
      if (candidates !== undefined) candidates[candidateCount++] = i;
    }
  }
  const { bucket: lowBucket, remaining: afterLow } = selectBucket(low, remaining);
  remaining = afterLow;
  const thresholdBits = ((highBucket << 16) | lowBucket) >>> 0;
  const equalCount = low[lowBucket]!;
  let lastKeptEqualIndex = -1;
  if (candidates !== undefined && remaining < equalCount) {
    let equalLeft = remaining;
    for (let c = 0; c < candidateCount; c++) {
      const index = candidates[c]!;
      if ((bits[index]! & SIGN_CLEAR) !== thresholdBits) continue;
      lastKeptEqualIndex = index;
      if (--equalLeft === 0) break;
    }
  }
  return {
    bits: thresholdBits,
    equalToKeep: remaining,
    equalCount,
    ...(locateLastKept ? { lastKeptEqualIndex } : {}),
  };
}

/**
 * {@link findThreshold}'s low pass and tie location as WebAssembly loops over an arena's words
 * (the same result): the low histogram in the arena's `low` area; the last kept tie by a second
 * scan, only when there are ties to cut, instead of collecting the high bucket's indices.
 */
function findThresholdInArena(
  kernels: ArenaKernels,
  bits: Uint32Array,
  highBucket: number,
  remainingAfterHigh: number,
  locateLastKept: boolean,
): Threshold {
  const { low, low2 } = kernels;
  low.fill(0);
  low2.fill(0);
  // Split with the helper thread (its part counts into low2): integer counts, the same sums.
  const parts = kernels.split('low_histogram', 0, bits.length * 4, (lo, hi) => [
    bits.byteOffset + lo,
    (hi - lo) / 4,
    highBucket,
    lo === 0 ? low.byteOffset : low2.byteOffset,
  ]);
  if (parts.length > 1) for (let bucket = 0; bucket < 65536; bucket++) low[bucket]! += low2[bucket]!;
  const { bucket: lowBucket, remaining } = selectBucket(low, remainingAfterHigh);
  const thresholdBits = ((highBucket << 16) | lowBucket) >>> 0;
  const equalCount = low[lowBucket]!;
  const lastKeptEqualIndex =
    locateLastKept && remaining < equalCount
      ? kernels.exports.nth_equal(bits.byteOffset, bits.length, thresholdBits, remaining)
      : -1;
  return {
    bits: thresholdBits,
    equalToKeep: remaining,
    equalCount,
    ...(locateLastKept ? { lastKeptEqualIndex } : {}),
  };
}

/**
 * Walking a 65536-bucket histogram down from the top: the bucket holding the `take`-th largest
 * element, and how many of that bucket's elements are still to take.
 */
function selectBucket(histogram: Uint32Array, take: number): { bucket: number; remaining: number } {
  let remaining = take;
  let bucket = 65535;
  for (; bucket > 0; bucket--) {
    const count = histogram[bucket]!;
    if (count >= remaining) break;
    remaining -= count;
  }
  return { bucket, remaining };
}

function bitsOf(values: Float32Array): Uint32Array {
  return new Uint32Array(values.buffer, values.byteOffset, values.length);
}

/**
 * Zeroes all but the `k` largest-magnitude entries of `values`, in place (TIES' magnitude
 * sparsification). `k ≥ length` keeps everything, `k ≤ 0` zeroes everything. `highHistogram`
 * (65536 counts of `(bits & 0x7fffffff) >>> 16`, e.g. from `subtractWithMeanSquare`) saves a pass.
 *
 * @example
 * ```ts
 * const delta = new Float32Array([0.1, -3, 2, 0]);
 * keepLargestMagnitudes(delta, 2); // → [0, -3, 2, 0]
 * ```
 */
export function keepLargestMagnitudes(values: Float32Array, k: number, highHistogram?: Uint32Array): void {
  if (k >= values.length) return;
  if (k <= 0) {
    values.fill(0);
    return;
  }
  const bits = bitsOf(values);
  const threshold = findThreshold(bits, k, highHistogram);
  // Branch-free: keep |x| ≥ threshold by masking the bits with (threshold − 1 − |x|) >> 31, all ones
  // exactly when |x| > threshold − 1. Magnitudes are random, so a branch here mispredicts half the
  // time (≈3× slower).
  const below = threshold.bits - 1;
  for (let i = 0; i < bits.length; i++) {
    const word = bits[i]!;
    bits[i] = word & ((below - (word & SIGN_CLEAR)) >> 31);
  }
  if (threshold.equalCount === threshold.equalToKeep) return;
  // More entries equal the threshold than fit: keep the first ones in index order.
  let equalLeft = threshold.equalToKeep;
  for (let i = 0; i < bits.length; i++) {
    if ((bits[i]! & SIGN_CLEAR) !== threshold.bits) continue;
    if (equalLeft > 0) equalLeft--;
    else bits[i] = 0;
  }
}

/**
 * A 0/1 mask selecting exactly `k` entries with the largest `scores` (non-negative), e.g. SCE's
 * highest-variance elements. Ties at the threshold are taken in index order.
 *
 * @example
 * ```ts
 * topKMask(new Float32Array([0.5, 2, 1]), 2); // → Uint8Array [0, 1, 1]
 * ```
 */
export function topKMask(scores: Float32Array, k: number): Uint8Array {
  const mask = new Uint8Array(scores.length);
  if (k <= 0) return mask;
  if (k >= scores.length) return mask.fill(1);
  const bits = bitsOf(scores);
  const threshold = findThreshold(bits, k);
  let equalLeft = threshold.equalToKeep;
  for (let i = 0; i < bits.length; i++) {
    const score = bits[i]! & SIGN_CLEAR;
    if (score > threshold.bits) mask[i] = 1;
    else if (score === threshold.bits && equalLeft > 0) {
      mask[i] = 1;
      equalLeft--;
    }
  }
  return mask;
}
