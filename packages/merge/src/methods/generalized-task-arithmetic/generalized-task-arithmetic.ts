import type { Random } from '@fusechat/core';
import { z } from 'zod';
import { defineMergeMethod } from '../../define-merge-method.js';
import { KEEP_ALL, KEEP_NONE, type TrimCut, trimAndMixTwoChecked } from '../../kernels/sign-consensus.js';
import { findThreshold, keepLargestMagnitudes } from '../../kernels/top-k.js';
import {
  subtractTwoWithMeanSquare,
  subtractWithMeanSquare,
  TwoModelDeltas,
  weightedSum,
} from '../../kernels/weighted-sum.js';
import type { MergeMethod, ParameterValues } from '../../merge-method.js';
import { flag, fraction, int8Mask, real } from '../parameter-schemas.js';

/** How each task vector is sparsified before mixing. */
export type Sparsification = 'none' | 'magnitude' | 'random';

/** How per-element sign conflicts are resolved: `sum` = TIES' majority sign of Σ wj δj. */
export type Consensus = 'none' | 'sum';

/** One member of the task-arithmetic family (mergekit's generalized task arithmetic). */
export interface TaskArithmeticFamilyOptions {
  readonly name: string;
  readonly description: string;
  readonly sparsification: Sparsification;
  readonly consensus: Consensus;
  readonly defaultNormalize: boolean;
  readonly defaultRescale: boolean;
}

const globalSchemas = (options: TaskArithmeticFamilyOptions) => ({
  normalize: flag(options.defaultNormalize),
  lambda: real(1),
  rescale: flag(options.defaultRescale),
  /** fusechat extension: how DARE rescales kept entries — `l1` (mergekit) or `inverse_density` (the paper). */
  rescale_mode: z.enum(['l1', 'inverse_density']).default('l1'),
  int8_mask: int8Mask(),
});

const perModelSchemas = {
  weight: real(),
  density: fraction(1),
};

type FamilyGlobals = ParameterValues<ReturnType<typeof globalSchemas>>;
type FamilyPerModel = ParameterValues<typeof perModelSchemas>;

const L1_EPSILON = 1e-7;

/**
 * Random (DARE) sparsification in place: keep each entry with probability `density`, then rescale
 * the kept ones so the L1 norm matches the unmasked delta (mergekit) or by `1/density` (paper).
 */
export function dropAndRescale(
  delta: Float32Array,
  density: number,
  random: Random,
  rescale: boolean,
  mode: 'l1' | 'inverse_density',
): void {
  if (density >= 1) return;
  let before = 0;
  let after = 0;
  for (let i = 0; i < delta.length; i++) {
    const value = delta[i]!;
    before += Math.abs(value);
    if (random.float() < density) after += Math.abs(value);
    else delta[i] = 0;
  }
  if (!rescale) return;
  const scale =
    mode === 'inverse_density'
      ? density > 0
        ? 1 / density
        : 0
      : before < L1_EPSILON || after < L1_EPSILON
        ? 1
        : before / after;
  if (scale !== 1) for (let i = 0; i < delta.length; i++) delta[i] = delta[i]! * scale;
}

/** Whether the two-model fused path (one delta pass for both, trim folded into the mix) applies. */
function fusesTwo(
  options: TaskArithmeticFamilyOptions,
  models: readonly { parameters: FamilyPerModel }[],
  parameters: FamilyGlobals,
): boolean {
  return (
    options.sparsification === 'magnitude' &&
    options.consensus === 'sum' &&
    models.length === 2 &&
    !parameters.rescale &&
    models.every((model) => model.parameters.density < 1)
  );
}

/** The `trimAndMixTwo` cut equivalent to `keepLargestMagnitudes(delta, k, histogram)`. */
function trimCut(delta: Float32Array, k: number, histogram: Uint32Array): TrimCut {
  if (k >= delta.length) return KEEP_ALL;
  if (k <= 0) return KEEP_NONE;
  const bits = new Uint32Array(delta.buffer, delta.byteOffset, delta.length);
  const threshold = findThreshold(bits, k, histogram, true);
  const lastKept = threshold.lastKeptEqualIndex ?? -1;
  return { below: threshold.bits - 1, until: lastKept < 0 ? Number.POSITIVE_INFINITY : lastKept + 1 };
}

function rescaleToL1(delta: Float32Array, before: number): void {
  let after = 0;
  for (let i = 0; i < delta.length; i++) after += Math.abs(delta[i]!);
  if (before < L1_EPSILON || after < L1_EPSILON) return;
  const scale = before / after;
  for (let i = 0; i < delta.length; i++) delta[i] = delta[i]! * scale;
}

function l1(values: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += Math.abs(values[i]!);
  return sum;
}

/**
 * Builds a member of the task-arithmetic family: `θ0 + λ · mix(sparsify(δj), wj)` where mixing
 * either sums `wj δj` (divided by `Σ wj` when `normalize`) or, with `consensus: 'sum'`, keeps only
 * entries whose sign agrees with the sign of `Σ wj δj` and divides by the `Σ wj` of those kept.
 * `task_arithmetic`, `ties`, `dare_linear` and `dare_ties` are four settings of this one pipeline.
 *
 * @example
 * ```ts
 * const magnitudeLinear = defineTaskArithmeticFamily({
 *   name: 'magnitude_linear', description: 'TIES sparsification without sign consensus',
 *   sparsification: 'magnitude', consensus: 'none', defaultNormalize: false, defaultRescale: false,
 * });
 * ```
 */
export function defineTaskArithmeticFamily(
  options: TaskArithmeticFamilyOptions,
): MergeMethod<FamilyGlobals, FamilyPerModel> {
  return defineMergeMethod({
    name: options.name,
    description: options.description,
    baseModel: 'required',
    reportsChange: true,
    parameters: globalSchemas(options),
    perModelParameters: perModelSchemas,
    // Two trimmed models with sign consensus (TIES' common case): form the deltas, their
    // histograms and mean squared changes while the tensors are read.
    beginStreamingPass({ base, models, parameters }) {
      if (!fusesTwo(options, models, parameters)) return undefined;
      return new TwoModelDeltas(models[0]!.tensor, models[1]!.tensor, base!);
    },
    merge({ base, models, parameters, random, streamingPass }) {
      const out = base!;
      const deltas: Float32Array[] = [];
      const weights: number[] = [];
      const changeMeanSquare: number[] = [];
      // Two models with sign consensus: a plain magnitude trim is not applied here but folded
      // into the fused mixing pass (trimAndMixTwo) as a per-model cut on the magnitude bits.
      const fuseTrim = options.consensus === 'sum' && models.length === 2 && !parameters.rescale;
      const cuts: TrimCut[] = [];
      // Both models trimmed: form both deltas and histograms in one pass over the base.
      const histograms = models.map((model) =>
        options.sparsification === 'magnitude' && model.parameters.density < 1
          ? new Uint32Array(65536)
          : undefined,
      );
      const together =
        models.length === 2 && histograms[0] !== undefined && histograms[1] !== undefined
          ? streamingPass instanceof TwoModelDeltas
            ? streamingPass.finish(histograms[0], histograms[1])
            : subtractTwoWithMeanSquare(
                models[0]!.tensor,
                models[1]!.tensor,
                out,
                histograms[0],
                histograms[1],
              )
          : undefined;
      models.forEach((model, j) => {
        const density = model.parameters.density;
        const trim = options.sparsification === 'magnitude' && density < 1;
        const histogram = histograms[j];
        changeMeanSquare.push(together ? together[j]! : subtractWithMeanSquare(model.tensor, out, histogram));
        const delta = model.tensor;
        let cut = KEEP_ALL;
        if (trim) {
          const k = Math.floor(density * delta.length);
          if (fuseTrim) cut = trimCut(delta, k, histogram!);
          else {
            const before = parameters.rescale && parameters.rescale_mode === 'l1' ? l1(delta) : 0;
            keepLargestMagnitudes(delta, k, histogram);
            if (parameters.rescale) {
              if (parameters.rescale_mode === 'l1') rescaleToL1(delta, before);
              else if (density > 0) for (let i = 0; i < delta.length; i++) delta[i] = delta[i]! / density;
            }
          }
        } else if (options.sparsification === 'random') {
          dropAndRescale(
            delta,
            density,
            random.fork(`dare:${j}`),
            parameters.rescale,
            parameters.rescale_mode,
          );
        }
        cuts.push(cut);
        deltas.push(delta);
        weights.push(model.parameters.weight);
      });

      if (options.consensus === 'sum' && models.length === 2) {
        const allFinite = trimAndMixTwoChecked(
          out,
          deltas[0]!,
          deltas[1]!,
          cuts[0]!,
          cuts[1]!,
          weights[0]!,
          weights[1]!,
          parameters.normalize,
          parameters.lambda,
        );
        return { tensor: out, changeMeanSquare, allFinite };
      }
      if (options.consensus === 'none') {
        let divisor = 1;
        if (parameters.normalize) {
          const sum = weights.reduce((a, b) => a + b, 0);
          divisor = Math.abs(sum) < 1e-8 ? 1 : sum;
        }
        const scale = parameters.lambda / divisor;
        const tensor = weightedSum(
          out,
          deltas,
          weights.map((w) => w * scale),
          out,
        );
        return { tensor, changeMeanSquare };
      }
      return {
        tensor: signConsensusMix(out, deltas, weights, parameters.normalize, parameters.lambda),
        changeMeanSquare,
      };
    },
  });
}

/**
 * TIES' disjoint mean, in place into `base`: per element, the majority sign of `Σ wj δj` (≥ 0 →
 * +), the sum of the agreeing `wj δj` divided (when `normalize`) by the sum of their `wj` (1 when
 * none agree), times `lambda`. Used for one or three and more models; two go through the fused
 * `trimAndMixTwo` (which also applies the magnitude trim).
 */
function signConsensusMix(
  base: Float32Array,
  deltas: readonly Float32Array[],
  weights: readonly number[],
  normalize: boolean,
  lambda: number,
): Float32Array {
  // Blocked, one model at a time, and branch-free: delta signs are random, so an if on them
  // mispredicts half the time (measured ≈3× slower). Agreement is computed from sign bits:
  // sign(wj·δj) = sign(wj) xor sign(δj), compared with the sign bit of Σ wj δj (rounded to
  // float32, which keeps the sign; +0 counts as positive, as `≥ 0` does).
  const count = deltas.length;
  const total = new Float64Array(CONSENSUS_BLOCK);
  const totalRounded = new Float32Array(CONSENSUS_BLOCK);
  const totalBits = new Uint32Array(totalRounded.buffer);
  const mixed = new Float64Array(CONSENSUS_BLOCK);
  const divisor = new Float64Array(CONSENSUS_BLOCK);
  const keptCount = new Int32Array(CONSENSUS_BLOCK);
  const deltaBits = deltas.map((delta) => new Uint32Array(delta.buffer, delta.byteOffset, delta.length));
  for (let start = 0; start < base.length; start += CONSENSUS_BLOCK) {
    const size = Math.min(CONSENSUS_BLOCK, base.length - start);
    total.fill(0, 0, size);
    mixed.fill(0, 0, size);
    divisor.fill(0, 0, size);
    keptCount.fill(0, 0, size);
    for (let j = 0; j < count; j++) {
      const delta = deltas[j]!;
      const weight = weights[j]!;
      for (let i = 0; i < size; i++) total[i]! += weight * delta[start + i]!;
    }
    for (let i = 0; i < size; i++) totalRounded[i] = total[i]!;
    for (let j = 0; j < count; j++) {
      const delta = deltas[j]!;
      const bits = deltaBits[j]!;
      const weight = weights[j]!;
      const weightSign = weight < 0 ? 1 : 0;
      for (let i = 0; i < size; i++) {
        const word = bits[start + i]!;
        // 1 when the weighted delta's sign differs from the majority's, or the delta is ±0.
        const disagree =
          ((word >>> 31) ^ weightSign ^ (totalBits[i]! >>> 31)) | (((word & 0x7fffffff) - 1) >>> 31);
        const keep = 1 - disagree;
        mixed[i]! += keep * weight * delta[start + i]!;
        divisor[i]! += keep * weight;
        keptCount[i]! += keep;
      }
    }
    if (normalize) {
      for (let i = 0; i < size; i++) {
        // Nothing kept → divide 0 by 1 (branch-free: (0 − 1) >>> 31 = 1); kept weights summing
        // to exactly 0 (negative weights) → divide by 1, as mergekit.
        let value = mixed[i]! / (divisor[i]! + ((keptCount[i]! - 1) >>> 31));
        if (value - value !== 0) value = mixed[i]!;
        base[start + i] = base[start + i]! + lambda * value;
      }
    } else {
      for (let i = 0; i < size; i++) base[start + i] = base[start + i]! + lambda * mixed[i]!;
    }
  }
  return base;
}

const CONSENSUS_BLOCK = 8192;
