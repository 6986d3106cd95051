import { z } from 'zod';
import { defineMergeMethod } from '../../define-merge-method.js';
import { topKMask } from '../../kernels/top-k.js';
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
  merge({ base, models, parameters }) {
    const out = base!;
    const count = models.length;
    const changeMeanSquare = models.map((model) => subtractWithMeanSquare(model.tensor, out));
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
    if (count === 2) {
      eraseAndMixTwo(
        out,
        deltas[0]!,
        deltas[1]!,
        weights[0]!,
        weights[1]!,
        zeroUnselected ? mask : undefined,
      );
      return { tensor: out, weights, changeMeanSquare };
    }
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
 * The erase step for two models with everything in locals and no data-dependent branch (V8 does
 * not hoist loads through an array of typed arrays; random signs mispredict): agreement with the
 * sign of `a + b` comes from sign bits (the float32-rounded sum keeps its sign; +0 is positive),
 * ±0 deltas never agree, unselected elements (`mask` 0) count as zero deltas (mergekit).
 */
function eraseAndMixTwo(
  out: Float32Array,
  first: Float32Array,
  second: Float32Array,
  firstWeight: number,
  secondWeight: number,
  mask: Uint8Array | undefined,
): void {
  const firstBits = new Uint32Array(first.buffer, first.byteOffset, first.length);
  const secondBits = new Uint32Array(second.buffer, second.byteOffset, second.length);
  const rounded = new Float32Array(1);
  const roundedBits = new Uint32Array(rounded.buffer);
  for (let i = 0; i < out.length; i++) {
    const selected = mask === undefined ? 1 : mask[i]!;
    const a = selected * first[i]!;
    const b = selected * second[i]!;
    rounded[0] = a + b;
    const majority = roundedBits[0]! >>> 31;
    const u = firstBits[i]!;
    const v = secondBits[i]!;
    const keepA = selected & (1 - (((u >>> 31) ^ majority) | (((u & 0x7fffffff) - 1) >>> 31)));
    const keepB = selected & (1 - (((v >>> 31) ^ majority) | (((v & 0x7fffffff) - 1) >>> 31)));
    const mixed = keepA * firstWeight * a + keepB * secondWeight * b;
    // Nothing kept: 0 / 1. Kept with zero weights only: 0 / 0 → no change.
    let value = mixed / (keepA * firstWeight + keepB * secondWeight + ((keepA + keepB - 1) >>> 31));
    if (value - value !== 0) value = 0;
    out[i] = out[i]! + value;
  }
}

/** SCE's selection: the top `fraction` of the non-zero per-element variances across deltas. */
function varianceMask(deltas: readonly Float32Array[], fraction: number): Uint8Array {
  const length = deltas[0]!.length;
  const count = deltas.length;
  const variance = new Float32Array(length);
  let nonzero = 0;
  if (count === 2) {
    // Two models in locals (V8 does not hoist loads through an array of typed arrays).
    const [first, second] = deltas as [Float32Array, Float32Array];
    for (let i = 0; i < length; i++) {
      const a = first[i]!;
      const b = second[i]!;
      const mean = (a + b) / 2;
      const value = ((a - mean) * (a - mean) + (b - mean) * (b - mean)) / 2;
      variance[i] = value;
    }
    for (let i = 0; i < length; i++) if (variance[i] !== 0) nonzero++;
    return topKMask(variance, Math.floor(nonzero * fraction));
  }
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
