import { type ArenaKernels, arenaKernels } from './wasm/kernel-arena.js';

const BLOCK = 16384;

/**
 * `out[i] = offset[i] + Σj coefficients[j] · arrays[j][i]` with float64 accumulation, blocked so
 * the accumulator stays in cache and no tensor-sized float64 buffer is needed. `out` may alias
 * `offset` or one of `arrays`... only if that array's coefficient is applied before it is
 * overwritten, which the blocked order guarantees (each block is read fully before written).
 *
 * @example
 * ```ts
 * weightedSum(out, [a, b], [0.5, 0.5]);          // average
 * weightedSum(base, deltas, [1, 1], base);        // base + Σ deltas, in place
 * ```
 */
export function weightedSum(
  out: Float32Array,
  arrays: readonly Float32Array[],
  coefficients: readonly number[],
  offset?: Float32Array,
): Float32Array {
  const accumulator = new Float64Array(BLOCK);
  const length = out.length;
  for (let start = 0; start < length; start += BLOCK) {
    const end = Math.min(length, start + BLOCK);
    const size = end - start;
    if (offset === undefined) accumulator.fill(0, 0, size);
    else for (let i = 0; i < size; i++) accumulator[i] = offset[start + i]!;
    for (let j = 0; j < arrays.length; j++) {
      const coefficient = coefficients[j]!;
      if (coefficient === 0) continue;
      const source = arrays[j]!;
      for (let i = 0; i < size; i++) accumulator[i]! += coefficient * source[start + i]!;
    }
    for (let i = 0; i < size; i++) out[start + i] = accumulator[i]!;
  }
  return out;
}

/**
 * `weightedSum(out, arrays, coefficients)` (no offset) fused with a finiteness check of the
 * float32 results: returns `true` when every stored value is finite. Bit-identical to
 * `weightedSum`: the same float64 operations in the same order (`0 + c0·a`, then `+ c1·b`, …,
 * skipping zero coefficients unless `keepZeroCoefficients`, as the linear method's plain sum
 * does), one pass instead of four; two and three arrays run unrolled. `out` may be one of
 * `arrays` (each element is read before it is written).
 *
 * @example
 * ```ts
 * const finite = mixChecked(base, [first, second], [0.25, 0.75]);
 * ```
 */
export function mixChecked(
  out: Float32Array,
  arrays: readonly Float32Array[],
  coefficients: readonly number[],
  keepZeroCoefficients = false,
): boolean {
  const used = arrays.filter((_, j) => keepZeroCoefficients || coefficients[j] !== 0);
  const scales = coefficients.filter((c) => keepZeroCoefficients || c !== 0);
  const length = out.length;
  // Arrays of one KernelArena: the WebAssembly SIMD loops, the same float64 operations.
  if (used.length === 2 || used.length === 3) {
    const kernels = arenaKernels(out, ...used);
    if (kernels !== undefined) {
      const [a, b, c] = used;
      const parts =
        used.length === 2
          ? kernels.split('mix2', 0, length * 4, (lo, hi) => [
              out.byteOffset + lo,
              a!.byteOffset + lo,
              b!.byteOffset + lo,
              (hi - lo) / 4,
              scales[0]!,
              scales[1]!,
            ])
          : kernels.split('mix3', 0, length * 4, (lo, hi) => [
              out.byteOffset + lo,
              a!.byteOffset + lo,
              b!.byteOffset + lo,
              c!.byteOffset + lo,
              (hi - lo) / 4,
              scales[0]!,
              scales[1]!,
              scales[2]!,
            ]);
      return parts.every((finite) => finite === 1);
    }
  }
  // value − value is 0 for finite values and NaN for ±Infinity/NaN: summed, one NaN poisons it.
  let check = 0;
  if (used.length === 2) {
    const a = used[0]!;
    const b = used[1]!;
    const ca = scales[0]!;
    const cb = scales[1]!;
    for (let i = 0; i < length; i++) {
      const value = Math.fround(0 + ca * a[i]! + cb * b[i]!);
      out[i] = value;
      check += value - value;
    }
  } else if (used.length === 3) {
    const a = used[0]!;
    const b = used[1]!;
    const c = used[2]!;
    const ca = scales[0]!;
    const cb = scales[1]!;
    const cc = scales[2]!;
    for (let i = 0; i < length; i++) {
      const value = Math.fround(0 + ca * a[i]! + cb * b[i]! + cc * c[i]!);
      out[i] = value;
      check += value - value;
    }
  } else {
    const accumulator = new Float64Array(Math.min(length, BLOCK));
    for (let start = 0; start < length; start += BLOCK) {
      const size = Math.min(BLOCK, length - start);
      accumulator.fill(0, 0, size);
      for (let j = 0; j < used.length; j++) {
        const coefficient = scales[j]!;
        const source = used[j]!;
        for (let i = 0; i < size; i++) accumulator[i]! += coefficient * source[start + i]!;
      }
      for (let i = 0; i < size; i++) {
        const value = Math.fround(accumulator[i]!);
        out[start + i] = value;
        check += value - value;
      }
    }
  }
  return check === 0;
}

/** `Σ (a[i] − b[i])² / n` in float64 (a model's mean squared change against the base). */
export function meanSquaredDifference(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i]! - b[i]!;
    sum += d * d;
  }
  return a.length === 0 ? 0 : sum / a.length;
}

/**
 * Adds `Σ_{i ∈ [start, end)} (models[j][i] − base[i])²` to `sums[j]` for every model, in index
 * order and in float64 — over consecutive ranges it gives exactly `meanSquaredDifference`'s sum,
 * so the engine can compute it piece by piece while a tensor is still being read.
 */
export function addSquaredChange(
  sums: Float64Array,
  models: readonly Float32Array[],
  base: Float32Array,
  start: number,
  end: number,
): void {
  const kernels = arenaKernels(base, ...models);
  if (kernels !== undefined) {
    const k = kernels.exports;
    if (models.length === 2) {
      kernels.scratch[0] = sums[0]!;
      kernels.scratch[1] = sums[1]!;
      k.squared_change2(
        models[0]!.byteOffset,
        models[1]!.byteOffset,
        base.byteOffset,
        start * 4,
        end * 4,
        kernels.scratchPointer,
      );
      sums[0] = kernels.scratch[0]!;
      sums[1] = kernels.scratch[1]!;
      return;
    }
    for (let j = 0; j < models.length; j++)
      sums[j] = k.squared_change(models[j]!.byteOffset, base.byteOffset, start * 4, end * 4, sums[j]!);
    return;
  }
  if (models.length === 2) {
    const first = models[0]!;
    const second = models[1]!;
    let firstSum = sums[0]!;
    let secondSum = sums[1]!;
    for (let i = start; i < end; i++) {
      const b = base[i]!;
      const d = first[i]! - b;
      const e = second[i]! - b;
      firstSum += d * d;
      secondSum += e * e;
    }
    sums[0] = firstSum;
    sums[1] = secondSum;
    return;
  }
  for (let j = 0; j < models.length; j++) {
    const model = models[j]!;
    let sum = sums[j]!;
    for (let i = start; i < end; i++) {
      const d = model[i]! - base[i]!;
      sum += d * d;
    }
    sums[j] = sum;
  }
}

/** `Σ a[i]² / n` in float64. */
export function meanSquare(a: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i]! * a[i]!;
  return a.length === 0 ? 0 : sum / a.length;
}

/** In place: `target[i] = fround(target[i] − base[i])` (float32 deltas, as mergekit computes them). */
export function subtractInPlace(target: Float32Array, base: Float32Array): Float32Array {
  for (let i = 0; i < target.length; i++) target[i] = target[i]! - base[i]!;
  return target;
}

/**
 * In place: `target[i] = fround(target[i] − base[i])`, returning `mean((target − base)²)` (float64,
 * from the unrounded differences, as `meanSquaredDifference`) — one pass instead of two. When
 * `magnitudeHistogram` (65536 counters) is given, also counts the high 16 bits of each |delta|'s
 * float32 pattern, the first pass of `keepLargestMagnitudes`.
 */
export function subtractWithMeanSquare(
  target: Float32Array,
  base: Float32Array,
  magnitudeHistogram?: Uint32Array,
): number {
  let sum = 0;
  const length = target.length;
  if (magnitudeHistogram === undefined) {
    for (let i = 0; i < length; i++) {
      const d = target[i]! - base[i]!;
      sum += d * d;
      target[i] = d;
    }
  } else {
    // Four interleaved sub-histograms: deltas cluster in a few buckets, and one table would
    // serialise on repeated increments of the same counter (measured ≈3× slower). The sum stays
    // in index order, so the result is bit-identical to the simple loop.
    const bits = new Uint32Array(target.buffer, target.byteOffset, length);
    const counts = subHistograms();
    let i = 0;
    for (; i + 3 < length; i += 4) {
      const d0 = target[i]! - base[i]!;
      const d1 = target[i + 1]! - base[i + 1]!;
      const d2 = target[i + 2]! - base[i + 2]!;
      const d3 = target[i + 3]! - base[i + 3]!;
      sum += d0 * d0;
      sum += d1 * d1;
      sum += d2 * d2;
      sum += d3 * d3;
      target[i] = d0;
      target[i + 1] = d1;
      target[i + 2] = d2;
      target[i + 3] = d3;
      counts[(bits[i]! & 0x7fffffff) >>> 16]!++;
      counts[65536 + ((bits[i + 1]! & 0x7fffffff) >>> 16)]!++;
      counts[131072 + ((bits[i + 2]! & 0x7fffffff) >>> 16)]!++;
      counts[196608 + ((bits[i + 3]! & 0x7fffffff) >>> 16)]!++;
    }
    for (; i < length; i++) {
      const d = target[i]! - base[i]!;
      sum += d * d;
      target[i] = d;
      counts[(bits[i]! & 0x7fffffff) >>> 16]!++;
    }
    foldSubHistograms(counts, magnitudeHistogram);
  }
  return length === 0 ? 0 : sum / length;
}

/**
 * `subtractWithMeanSquare` for two models at once (the base is read once), piece by piece: each
 * {@link TwoModelDeltas.advance} turns `[start, end)` of both models into float32 deltas in place
 * and counts their magnitude histograms; {@link TwoModelDeltas.finish} returns both mean squared
 * changes and adds the histograms into the caller's. Over consecutive ranges this is
 * bit-identical to two `subtractWithMeanSquare` calls (each sum stays in index order; counts do
 * not depend on order).
 */
export class TwoModelDeltas {
  // Tables 0/1 count the first model (alternate elements), 2/3 the second: consecutive
  // increments never hit the same table.
  // Arrays of one KernelArena: the counters are the arena's (claimed until finish) and the
  // WebAssembly loop runs; otherwise a table of its own and the JS loop.
  readonly #kernels: ArenaKernels | undefined;
  readonly #counts: Uint32Array;
  readonly #sums = new Float64Array(2);

  constructor(
    private readonly first: Float32Array,
    private readonly second: Float32Array,
    private readonly base: Float32Array,
  ) {
    const kernels = arenaKernels(first, second, base);
    this.#kernels = kernels?.claimCounts(this) ? kernels : undefined;
    this.#counts = this.#kernels?.counts ?? new Uint32Array(4 * 65536);
  }

  advance(start: number, end: number): void {
    const { first, second, base } = this;
    const kernels = this.#kernels;
    if (kernels !== undefined) {
      kernels.scratch.set(this.#sums);
      kernels.exports.ties_deltas2(
        first.byteOffset,
        second.byteOffset,
        base.byteOffset,
        this.#counts.byteOffset,
        start * 4,
        end * 4,
        kernels.scratchPointer,
      );
      this.#sums.set(kernels.scratch);
      return;
    }
    const firstBits = new Uint32Array(first.buffer, first.byteOffset, first.length);
    const secondBits = new Uint32Array(second.buffer, second.byteOffset, second.length);
    const counts = this.#counts;
    let firstSum = this.#sums[0]!;
    let secondSum = this.#sums[1]!;
    let i = start;
    for (; i + 1 < end; i += 2) {
      const b0 = base[i]!;
      const b1 = base[i + 1]!;
      const d0 = first[i]! - b0;
      const e0 = second[i]! - b0;
      const d1 = first[i + 1]! - b1;
      const e1 = second[i + 1]! - b1;
      firstSum += d0 * d0;
      secondSum += e0 * e0;
      firstSum += d1 * d1;
      secondSum += e1 * e1;
      first[i] = d0;
      second[i] = e0;
      first[i + 1] = d1;
      second[i + 1] = e1;
      counts[(firstBits[i]! & 0x7fffffff) >>> 16]!++;
      counts[131072 + ((secondBits[i]! & 0x7fffffff) >>> 16)]!++;
      counts[65536 + ((firstBits[i + 1]! & 0x7fffffff) >>> 16)]!++;
      counts[196608 + ((secondBits[i + 1]! & 0x7fffffff) >>> 16)]!++;
    }
    for (; i < end; i++) {
      const d = first[i]! - base[i]!;
      const e = second[i]! - base[i]!;
      firstSum += d * d;
      secondSum += e * e;
      first[i] = d;
      second[i] = e;
      counts[(firstBits[i]! & 0x7fffffff) >>> 16]!++;
      counts[131072 + ((secondBits[i]! & 0x7fffffff) >>> 16)]!++;
    }
    this.#sums[0] = firstSum;
    this.#sums[1] = secondSum;
  }

  /** Both mean squared changes; adds the counted histograms into the given ones. */
  finish(firstHistogram: Uint32Array, secondHistogram: Uint32Array): [number, number] {
    const counts = this.#counts;
    for (let bucket = 0; bucket < 65536; bucket++) {
      firstHistogram[bucket] = firstHistogram[bucket]! + counts[bucket]! + counts[65536 + bucket]!;
      secondHistogram[bucket] =
        secondHistogram[bucket]! + counts[131072 + bucket]! + counts[196608 + bucket]!;
    }
    this.#kernels?.releaseCounts(this);
    const length = this.base.length;
    return length === 0 ? [0, 0] : [this.#sums[0]! / length, this.#sums[1]! / length];
  }
}

/** {@link TwoModelDeltas} over the whole tensor in one go. */
export function subtractTwoWithMeanSquare(
  first: Float32Array,
  second: Float32Array,
  base: Float32Array,
  firstHistogram: Uint32Array,
  secondHistogram: Uint32Array,
): [number, number] {
  const pass = new TwoModelDeltas(first, second, base);
  pass.advance(0, base.length);
  return pass.finish(firstHistogram, secondHistogram);
}

let scratchHistograms: Uint32Array | undefined;

/** A zeroed 4 × 65536 counter table, reused across calls (merges run one tensor at a time per thread). */
export function subHistograms(): Uint32Array {
  if (scratchHistograms === undefined) scratchHistograms = new Uint32Array(4 * 65536);
  else scratchHistograms.fill(0);
  return scratchHistograms;
}

/** Adds the four 65536-counter tables of `counts` into `histogram`. */
export function foldSubHistograms(counts: Uint32Array, histogram: Uint32Array): void {
  for (let b = 0; b < 65536; b++) {
    histogram[b] =
      histogram[b]! + counts[b]! + counts[65536 + b]! + counts[131072 + b]! + counts[196608 + b]!;
  }
}
