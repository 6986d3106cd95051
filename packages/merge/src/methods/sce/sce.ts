import { NumericalError } from '@fusechat/core';
import { z } from 'zod';
import { defineMergeMethod } from '../../define-merge-method.js';
import { cutRanges, SceFirstPass } from '../../kernels/sce-two.js';
import { topKMask } from '../../kernels/top-k.js';
import { arenaKernels } from '../../kernels/wasm/kernel-arena.js';
import { subtractWithMeanSquare } from '../../kernels/weighted-sum.js';
import { fraction, int8Mask } from '../parameter-schemas.js';

/**
 * `sce` (Select, Calculate, Erase — FuseChat 2.0): select the `⌊select_topk · count_nonzero(var)⌋`
 * elements where the targets' deltas vary most (population variance), weight each target by
 * `mean((mask⊙δj)²)` (normalised; uniform only when all are exactly zero), erase entries whose
 * sign disagrees with the sign of `Σ δj`, and add `Σ wj ej δj / Σ wj ej` to the base.
 * `sce_variant: mergekit` (default) zeroes unselected deltas before the erase step, as mergekit;
 * `sce_variant: fusechat` uses the mask for the weights only, as FuseChat-2.0 was built.
 *
 * @example
 * ```yaml
 * merge_method: sce
 * base_model: ./pivot
 * parameters: { select_topk: 0.1 }
 * models: [{ model: ./target-1 }, { model: ./target-2 }]
 * ```
 */
export const sce = defineMergeMethod({
  name: 'sce',
  description:
    'Select by variance, calculate weights from squared change, erase sign conflicts (FuseChat 2.0).',
  baseModel: 'required',
  reportsChange: true,
  parameters: {
    select_topk: fraction(1),
    sce_variant: z.enum(['mergekit', 'fusechat']).default('mergekit'),
    int8_mask: int8Mask(),
  },
  // Two targets (FuseChat's case): deltas, squared change and variance while the tensors are read.
  beginStreamingPass({ base, models, parameters }) {
    if (models.length !== 2) return undefined;
    const length = base!.length;
    const variance = parameters.select_topk < 1 ? varianceScratch(length, base!) : undefined;
    return new SceFirstPass(base!, models[0]!.tensor, models[1]!.tensor, variance);
  },
  merge({ tensorName, base, models, parameters, streamingPass }) {
    const out = base!;
    const count = models.length;
    if (count === 2) {
      const merged = mergeTwo(
        out,
        models[0]!.tensor,
        models[1]!.tensor,
        parameters.select_topk,
        parameters.sce_variant === 'mergekit',
        streamingPass instanceof SceFirstPass ? streamingPass : undefined,
      );
      refuseNonFiniteChange(merged.changeMeanSquare, models, tensorName);
      return merged;
    }
    const changeMeanSquare = models.map((model) => subtractWithMeanSquare(model.tensor, out));
    refuseNonFiniteChange(changeMeanSquare, models, tensorName);
    const deltas = models.map((model) => model.tensor);
    const length = out.length;
    const mask = parameters.select_topk < 1 ? varianceMask(deltas, parameters.select_topk) : undefined;

    const sumsOfSquares = new Array<number>(count).fill(0);
    for (let j = 0; j < count; j++) {
      const delta = deltas[j]!;
      let sum = 0;
      if (mask === undefined) for (let i = 0; i < length; i++) sum += delta[i]! * delta[i]!;
      // Branch-free: the mask is random, a branch on it would mispredict.
      else for (let i = 0; i < length; i++) sum += mask[i]! * delta[i]! * delta[i]!;
      sumsOfSquares[j] = length === 0 ? 0 : sum / length;
    }
    const total = sumsOfSquares.reduce((a, b) => a + b, 0);
    const weights = sumsOfSquares.map((value) => (total > 0 ? value / total : 1 / count));

    const zeroUnselected = mask !== undefined && parameters.sce_variant === 'mergekit';
    for (let i = 0; i < length; i++) {
      if (zeroUnselected && mask[i] === 0) continue;
      let sign = 0;
      for (let j = 0; j < count; j++) sign += deltas[j]![i]!;
      const positive = sign >= 0;
      let mixed = 0;
      let divisor = 0;
      for (let j = 0; j < count; j++) {
        const value = deltas[j]![i]!;
        if (positive ? value > 0 : value < 0) {
          mixed += weights[j]! * value;
          divisor += weights[j]!;
        }
      }
      if (divisor > 0) out[i] = out[i]! + mixed / divisor;
    }
    return { tensor: out, weights, changeMeanSquare };
  },
});

/**
 * SCE for two models in four passes over memory, bit-identical to the general path (see
 * sce.test.ts): deltas + mean squared change + variance + its histogram (one pass), the low
 * histogram of the radix select, the masked sums of squares of both models, and the erase/mix.
 * The selection mask is never materialised: it is a cut on the variance's bits.
 */
function mergeTwo(
  out: Float32Array,
  first: Float32Array,
  second: Float32Array,
  selectTopk: number,
  zeroUnselectedVariant: boolean,
  streamed: SceFirstPass | undefined,
): { tensor: Float32Array; weights: number[]; changeMeanSquare: number[]; allFinite: boolean } {
  const length = out.length;
  let pass = streamed;
  if (pass === undefined) {
    pass = new SceFirstPass(out, first, second, selectTopk < 1 ? varianceScratch(length, out) : undefined);
    pass.advance(0, length);
  }
  const variance = pass.variance;
  const { changeMeanSquare, cut } = pass.finish(selectTopk);
  const scores =
    variance === undefined
      ? new Uint32Array(first.buffer, first.byteOffset, length)
      : new Uint32Array(variance.buffer, variance.byteOffset, length);
  const sums = new Float64Array(2);
  if (variance === undefined) {
    let firstSum = 0;
    let secondSum = 0;
    for (let i = 0; i < length; i++) {
      firstSum += first[i]! * first[i]!;
      secondSum += second[i]! * second[i]!;
    }
    sums[0] = firstSum;
    sums[1] = secondSum;
  } else {
    for (const [start, end, below] of cutRanges(cut, length)) {
      selectedSquares(first, second, scores, start, end, below, sums);
    }
  }
  const sumsOfSquares = [length === 0 ? 0 : sums[0]! / length, length === 0 ? 0 : sums[1]! / length];
  const total = sumsOfSquares.reduce((a, b) => a + b, 0);
  const weights = sumsOfSquares.map((value) => (total > 0 ? value / total : 1 / 2));
  const ranges: [number, number, number][] =
    variance !== undefined && zeroUnselectedVariant ? cutRanges(cut, length) : [[0, length, -1]];
  let check = 0;
  for (const [start, end, below] of ranges) {
    const kernels = arenaKernels(out, first, second, scores);
    if (kernels !== undefined) {
      // The WebAssembly loop is branch-free and SIMD (the same bytes as either JS loop).
      for (const part of kernels.split('sce_erase_mix', start * 4, end * 4, (lo, hi) => [
        out.byteOffset,
        first.byteOffset,
        second.byteOffset,
        scores.byteOffset,
        lo,
        hi,
        below,
        weights[0]!,
        weights[1]!,
      ]))
        check += part;
      continue;
    }
    // A branch on the selection pays when it is predictable (mostly selected or mostly not);
    // near half-and-half the branch-free loop is faster.
    const predictable = below < 0 || selectTopk <= 0.3 || selectTopk >= 0.7;
    check += (predictable ? eraseAndMixRangeSkipping : eraseAndMixRange)(
      out,
      first,
      second,
      weights[0]!,
      weights[1]!,
      scores,
      start,
      end,
      below,
    );
  }
  return { tensor: out, weights, changeMeanSquare, allFinite: check === 0 };
}

let scratch: Float32Array | undefined;

/**
 * A float32 scratch of at least `length` elements, reused across tensors (merges run one tensor
 * at a time per thread): a fresh tensor-sized array per tensor would leave garbage for the GC
 * and raise the peak RSS by one tensor. When `base` lives in a KernelArena with a scratch area,
 * that area (so the WebAssembly loops run on the variance too).
 */
function varianceScratch(length: number, base: Float32Array): Float32Array {
  const arena = arenaKernels(base)?.scratchArray;
  if (arena !== undefined && arena.length >= length) return arena.subarray(0, length);
  if (scratch === undefined || scratch.length < length) scratch = new Float32Array(length);
  return scratch.subarray(0, length);
}

/** Adds `Σ selected · δ²` of both models over `[start, end)` to `sums` (in index order). */
function selectedSquares(
  first: Float32Array,
  second: Float32Array,
  scores: Uint32Array,
  start: number,
  end: number,
  below: number,
  sums: Float64Array,
): void {
  const kernels = arenaKernels(first, second, scores);
  if (kernels !== undefined) {
    kernels.scratch.set(sums);
    kernels.exports.sce_selected_squares(
      first.byteOffset,
      second.byteOffset,
      scores.byteOffset,
      start * 4,
      end * 4,
      below,
      kernels.scratchPointer,
    );
    sums.set(kernels.scratch);
    return;
  }
  let firstSum = sums[0]!;
  let secondSum = sums[1]!;
  for (let i = start; i < end; i++) {
    // Branch-free: the selection is random, a branch on it would mispredict.
    const selected = (below - (scores[i]! & SIGN_CLEAR)) >>> 31;
    firstSum += selected * first[i]! * first[i]!;
    secondSum += selected * second[i]! * second[i]!;
  }
  sums[0] = firstSum;
  sums[1] = secondSum;
}

/**
 * The erase step for two models over `[start, end)`, branch-free, everything in locals.
 * Selected elements have scores (sign-cleared bits) above `below`; unselected ones count as zero
 * deltas (mergekit; `below = -1` selects all). The majority sign of `a + b` comes from integer
 * compares of the deltas' bits: the larger magnitude's sign wins, equal magnitudes of opposite
 * signs sum to +0 (as the float32-rounded sum's sign bit, +0 positive). It only matters for
 * selected elements, where `a`, `b` are the deltas themselves. ±0 deltas never agree.
 */
function eraseAndMixRange(
  out: Float32Array,
  first: Float32Array,
  second: Float32Array,
  firstWeight: number,
  secondWeight: number,
  scores: Uint32Array,
  start: number,
  end: number,
  below: number,
): number {
  // value − value: 0 when finite, NaN otherwise; summed, one NaN poisons the check.
  let check = 0;
  const firstBits = new Uint32Array(first.buffer, first.byteOffset, first.length);
  const secondBits = new Uint32Array(second.buffer, second.byteOffset, second.length);
  for (let i = start; i < end; i++) {
    const selected = (below - (scores[i]! & SIGN_CLEAR)) >>> 31;
    const a = selected * first[i]!;
    const b = selected * second[i]!;
    const u = firstBits[i]!;
    const v = secondBits[i]!;
    const signA = u >>> 31;
    const signB = v >>> 31;
    const magnitudeA = u & SIGN_CLEAR;
    const magnitudeB = v & SIGN_CLEAR;
    const majority =
      (signA & signB) |
      (((magnitudeB - magnitudeA) >>> 31) & signA) |
      (((magnitudeA - magnitudeB) >>> 31) & signB);
    const keepA = selected & (1 - ((signA ^ majority) | ((magnitudeA - 1) >>> 31)));
    const keepB = selected & (1 - ((signB ^ majority) | ((magnitudeB - 1) >>> 31)));
    const mixed = keepA * firstWeight * a + keepB * secondWeight * b;
    // Nothing kept: 0 / 1. Kept with zero weights only: 0 / 0 → no change.
    let value = mixed / (keepA * firstWeight + keepB * secondWeight + ((keepA + keepB - 1) >>> 31));
    if (value - value !== 0) value = 0;
    const merged = Math.fround(out[i]! + value);
    out[i] = merged;
    check += merged - merged;
  }
  return check;
}

/**
 * {@link eraseAndMixRange} with a branch on the selection: an unselected element computes only
 * what the branch-free loop computes for it (all keeps 0: a zero `value`, whose sign follows the
 * same float64 expression), a selected one the full erase/mix. Same bytes, ≈3× less CPU at
 * `select_topk: 0.1` (measured), where nine elements in ten are unselected.
 */
function eraseAndMixRangeSkipping(
  out: Float32Array,
  first: Float32Array,
  second: Float32Array,
  firstWeight: number,
  secondWeight: number,
  scores: Uint32Array,
  start: number,
  end: number,
  below: number,
): number {
  let check = 0;
  const firstBits = new Uint32Array(first.buffer, first.byteOffset, first.length);
  const secondBits = new Uint32Array(second.buffer, second.byteOffset, second.length);
  // keepA · firstWeight etc. with both keeps 0, as the branch-free loop evaluates them.
  const zeroFirst = 0 * firstWeight;
  const zeroSecond = 0 * secondWeight;
  const zeroDivisor = zeroFirst + zeroSecond + 1;
  for (let i = start; i < end; i++) {
    if ((scores[i]! & SIGN_CLEAR) <= below) {
      let value = (zeroFirst * (0 * first[i]!) + zeroSecond * (0 * second[i]!)) / zeroDivisor;
      if (value - value !== 0) value = 0;
      const merged = Math.fround(out[i]! + value);
      out[i] = merged;
      check += merged - merged;
      continue;
    }
    const a = first[i]!;
    const b = second[i]!;
    const u = firstBits[i]!;
    const v = secondBits[i]!;
    const signA = u >>> 31;
    const signB = v >>> 31;
    const magnitudeA = u & SIGN_CLEAR;
    const magnitudeB = v & SIGN_CLEAR;
    const majority =
      (signA & signB) |
      (((magnitudeB - magnitudeA) >>> 31) & signA) |
      (((magnitudeA - magnitudeB) >>> 31) & signB);
    const keepA = 1 - ((signA ^ majority) | ((magnitudeA - 1) >>> 31));
    const keepB = 1 - ((signB ^ majority) | ((magnitudeB - 1) >>> 31));
    const mixed = keepA * firstWeight * a + keepB * secondWeight * b;
    let value = mixed / (keepA * firstWeight + keepB * secondWeight + ((keepA + keepB - 1) >>> 31));
    if (value - value !== 0) value = 0;
    const merged = Math.fround(out[i]! + value);
    out[i] = merged;
    check += merged - merged;
  }
  return check;
}

const SIGN_CLEAR = 0x7fffffff;

/** SCE's selection: the top `fraction` of the non-zero per-element variances across deltas. */
function varianceMask(deltas: readonly Float32Array[], fraction: number): Uint8Array {
  const length = deltas[0]!.length;
  const count = deltas.length;
  const variance = new Float32Array(length);
  let nonzero = 0;
  for (let i = 0; i < length; i++) {
    let mean = 0;
    for (let j = 0; j < count; j++) mean += deltas[j]![i]!;
    mean /= count;
    let sum = 0;
    for (let j = 0; j < count; j++) {
      const d = deltas[j]![i]! - mean;
      sum += d * d;
    }
    const value = sum / count;
    variance[i] = value;
    if (variance[i] !== 0) nonzero++;
  }
  return topKMask(variance, Math.floor(nonzero * fraction));
}

/**
 * SCE's weights fall back to uniform when the squared changes do not sum to a positive number, so
 * a NaN or ±Inf in a task vector would silently vanish from the merge: refuse it instead. The mean
 * squared change covers every element, so it is non-finite exactly when some delta is.
 */
function refuseNonFiniteChange(
  changeMeanSquare: readonly number[],
  models: readonly { model: string }[],
  tensorName: string,
): void {
  const bad = changeMeanSquare.findIndex((value) => !Number.isFinite(value));
  if (bad < 0) return;
  throw new NumericalError(
    `Merging ${tensorName} with sce: the task vector of ${models[bad]?.model ?? `model ${bad}`} (target − base) holds NaN or ±Inf; check that model's weights.`,
    { code: 'MERGE_NON_FINITE', tensorName, details: { model: bad } },
  );
}
