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

/** `Σ (a[i] − b[i])² / n` in float64 (a model's mean squared change against the base). */
export function meanSquaredDifference(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i]! - b[i]!;
    sum += d * d;
  }
  return a.length === 0 ? 0 : sum / a.length;
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
    const bits = new Uint32Array(target.buffer, target.byteOffset, length);
    for (let i = 0; i < length; i++) {
      const d = target[i]! - base[i]!;
      sum += d * d;
      target[i] = d;
      magnitudeHistogram[(bits[i]! & 0x7fffffff) >>> 16]!++;
    }
  }
  return length === 0 ? 0 : sum / length;
}
