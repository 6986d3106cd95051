// How far fusechat's deliberate differences from mergekit move a merge, on a real-size tensor.
// mergekit cannot be installed here (no PyPI), so each of its rules is transcribed from its
// source as an independent float64 reference (citations by file and commit below), beside a
// reference of fusechat's own rule; the engine must match the latter, and the numbers printed
// (`mergekit-differences {...}`) are the ones docs/guides/merging.md quotes.
//
// mergekit @ a6e402884ba9bc30da7f23e8304a35f19485de95:
// - mergekit/merge_methods/sce.py: `sce_weight` (uniform when |Σ mean(δ²)| < 1e-6),
//   `sce_merge` (divides by `clamp(Σ wj ej, min=1e-6)`), erase via `get_mask(method="sum")`.
// - mergekit/sparsify.py `magnitude`: `torch.argsort(|δ|, descending=True)[:k]` (unstable:
//   which of the tied |δ| at the cut survive is unspecified).
// - mergekit/merge_methods/generalized_task_arithmetic.py `execute`: every op on the loaded dtype
//   (bf16 for a bf16 checkpoint without `dtype:`), weights as `torch.tensor(…, dtype=deltas.dtype)`.
//
// Size: FUSECHAT_MERGEKIT_DIFF_N × FUSECHAT_MERGEKIT_DIFF_N (default 1024; the guide's numbers
// are from 4096, a Llama-7B projection).
import { createRandom } from '@fusechat/core';
import { describe, expect, it } from 'vitest';
import type { AnyMergeMethod, MergeTensorResult } from '../merge-method.js';
import { sce } from '../methods/sce/sce.js';
import { ties } from '../methods/ties/ties.js';

const N = Number(process.env.FUSECHAT_MERGEKIT_DIFF_N ?? 1024);
const LENGTH = N * N;

const scratch = new Float32Array(1);
const scratchBits = new Uint32Array(scratch.buffer);
/** Round to the nearest bfloat16 (ties to even), as torch's `.to(torch.bfloat16)`. */
function bf16(value: number): number {
  scratch[0] = value;
  const bits = scratchBits[0]!;
  scratchBits[0] = ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) << 16;
  return scratch[0]!;
}

/** A bf16 checkpoint tensor: base ~ N(0, 0.02²) and two fine-tunes with δ std 4e-4 and 2e-4, all bf16-representable. */
function bf16Family(): { base: Float32Array; targets: Float32Array[] } {
  const random = createRandom(2024);
  const base = new Float32Array(LENGTH);
  for (let i = 0; i < LENGTH; i++) base[i] = bf16(0.02 * random.normal());
  const targets = [4e-4, 2e-4].map((std) => {
    const target = new Float32Array(LENGTH);
    for (let i = 0; i < LENGTH; i++) target[i] = bf16(base[i]! + std * random.normal());
    return target;
  });
  return { base, targets };
}

function run(
  method: AnyMergeMethod,
  base: Float32Array,
  targets: Float32Array[],
  perModel: Record<string, unknown>[],
  global: Record<string, unknown> = {},
): { tensor: Float32Array; weights?: readonly number[] } {
  const tensorName = 'model.layers.0.mlp.down_proj.weight';
  const result = method.merge({
    tensorName,
    shape: [N, N],
    // Copies: methods merge in place into their inputs (the engine's buffers).
    base: base.slice(),
    models: targets.map((tensor, j) => ({
      model: `target-${j}`,
      tensor: tensor.slice(),
      parameters: method.parsePerModelParameters({ ...global, ...perModel[j] }),
    })),
    parameters: method.parseParameters(global),
    random: createRandom(0).fork(tensorName),
  });
  return result instanceof Float32Array ? { tensor: result } : (result as MergeTensorResult);
}

/** Differences of `actual` from `expected`: max |Δ|, ‖Δ‖₂ / ‖expected − base‖₂, elements that differ. */
class Difference {
  maxAbs = 0;
  squared = 0;
  change = 0;
  differing = 0;
  add(actual: number, expected: number, base: number): void {
    const delta = actual - expected;
    // Beyond float32 rounding of values ≈ 0.02 (≈ 1e-9): a real difference.
    if (Math.abs(delta) > 1e-8) this.differing++;
    this.maxAbs = Math.max(this.maxAbs, Math.abs(delta));
    this.squared += delta * delta;
    this.change += (expected - base) ** 2;
  }
  summary(): { maxAbs: number; relativeL2: number; differing: number } {
    return {
      maxAbs: Number(this.maxAbs.toPrecision(3)),
      relativeL2: Number(Math.sqrt(this.squared / this.change).toPrecision(3)),
      differing: this.differing,
    };
  }
}

/** The `k` largest |values| kept; of the ties at the cut, the first (`index`) or last (`reverse`) ones. */
function topKMask(
  values: Float64Array,
  k: number,
  order: 'index' | 'reverse',
): { keep: Uint8Array; tied: number } {
  const magnitudes = Float64Array.from(values, Math.abs).sort();
  const threshold = magnitudes[values.length - k]!;
  let above = 0;
  let tied = 0;
  for (const value of values) {
    if (Math.abs(value) > threshold) above++;
    else if (Math.abs(value) === threshold) tied++;
  }
  const keep = new Uint8Array(values.length);
  let need = k - above;
  for (let step = 0; step < values.length; step++) {
    const i = order === 'index' ? step : values.length - 1 - step;
    const magnitude = Math.abs(values[i]!);
    if (magnitude > threshold) keep[i] = 1;
    else if (magnitude === threshold && need > 0) {
      keep[i] = 1;
      need--;
    }
  }
  return { keep, tied };
}

const { base, targets } = bf16Family();
const deltas = targets.map((target) => Float64Array.from(target, (value, i) => value - base[i]!));
const report: Record<string, unknown> = { size: `${N}x${N}` };

describe(`mergekit's rules against fusechat's, on a ${N}×${N} bf16 tensor`, () => {
  it('SCE: the absolute 1e-6 threshold makes mergekit’s weights uniform; fusechat keeps mean(δ²) proportions', () => {
    const { tensor, weights } = run(sce, base, targets, [{}, {}]);
    const meanSquares = deltas.map((delta) => delta.reduce((sum, value) => sum + value * value, 0) / LENGTH);
    const total = meanSquares[0]! + meanSquares[1]!;
    const fusechatWeights = meanSquares.map((value) => value / total);
    const mergekitWeights = Math.abs(total) < 1e-6 ? [0.5, 0.5] : fusechatWeights;
    expect(weights![0]).toBeCloseTo(fusechatWeights[0]!, 6);
    const againstFusechat = new Difference();
    const againstMergekit = new Difference();
    for (let i = 0; i < LENGTH; i++) {
      const d0 = deltas[0]![i]!;
      const d1 = deltas[1]![i]!;
      const sign = d0 + d1 >= 0 ? 1 : -1;
      const e0 = Math.sign(d0) === sign ? 1 : 0;
      const e1 = Math.sign(d1) === sign ? 1 : 0;
      const ours = fusechatWeights[0]! * e0 + fusechatWeights[1]! * e1;
      const theirs = mergekitWeights[0]! * e0 + mergekitWeights[1]! * e1;
      const fusechatValue =
        ours === 0
          ? base[i]!
          : base[i]! + (fusechatWeights[0]! * e0 * d0 + fusechatWeights[1]! * e1 * d1) / ours;
      const mergekitValue =
        base[i]! + (mergekitWeights[0]! * e0 * d0 + mergekitWeights[1]! * e1 * d1) / Math.max(theirs, 1e-6);
      againstFusechat.add(tensor[i]!, fusechatValue, base[i]!);
      againstMergekit.add(tensor[i]!, mergekitValue, base[i]!);
    }
    // The engine is fusechat's rule to float32 rounding; mergekit's rule is measurably elsewhere.
    expect(againstFusechat.maxAbs).toBeLessThan(1e-8);
    expect(total).toBeLessThan(1e-6);
    expect(againstMergekit.summary().relativeL2).toBeGreaterThan(0.05);
    report.sce = {
      sumMeanSquare: Number(total.toPrecision(3)),
      fusechatWeights: fusechatWeights.map((w) => Number(w.toFixed(4))),
      mergekitWeights,
      engineVsFusechatReference: againstFusechat.summary(),
      engineVsMergekit: againstMergekit.summary(),
    };
  });

  it('TIES: which tied |δ| at the top-k cut survive (index order here, unspecified in mergekit) changes the merge where bf16 deltas tie', () => {
    const weights = [0.7, 0.3];
    const density = 0.5;
    const { tensor } = run(
      ties,
      base,
      targets,
      weights.map((weight) => ({ weight, density })),
    );
    const k = Math.floor(density * LENGTH);
    const masks = {
      index: deltas.map((delta) => topKMask(delta, k, 'index')),
      reverse: deltas.map((delta) => topKMask(delta, k, 'reverse')),
    };
    const merged = (order: 'index' | 'reverse', i: number) => {
      const trimmed = deltas.map((delta, j) => (masks[order][j]!.keep[i] ? weights[j]! * delta[i]! : 0));
      const sign = trimmed[0]! + trimmed[1]! >= 0 ? 1 : -1;
      let mixed = 0;
      let divisor = 0;
      trimmed.forEach((value, j) => {
        if (Math.sign(value) === sign) {
          mixed += value;
          divisor += weights[j]!;
        }
      });
      return base[i]! + (divisor === 0 ? mixed : mixed / divisor);
    };
    const againstIndex = new Difference();
    const againstReverse = new Difference();
    for (let i = 0; i < LENGTH; i++) {
      againstIndex.add(tensor[i]!, merged('index', i), base[i]!);
      againstReverse.add(tensor[i]!, merged('reverse', i), base[i]!);
    }
    expect(againstIndex.maxAbs).toBeLessThan(1e-8);
    // bf16 deltas are a few ulps wide: the cut falls inside a run of equal |δ|.
    expect(masks.index[0]!.tied).toBeGreaterThan(1000);
    expect(againstReverse.differing).toBeGreaterThan(0);
    report.tiesTopKTies = {
      k,
      tiedAtCut: masks.index.map((mask) => mask.tied),
      engineVsIndexOrderReference: againstIndex.summary(),
      engineVsReverseOrder: againstReverse.summary(),
    };
  });

  it('bf16 arithmetic: mergekit computes TIES in the checkpoint’s bf16; fusechat in float32/float64, rounding once to bf16', () => {
    const weights = [0.7, 0.3];
    const density = 0.5;
    const { tensor } = run(
      ties,
      base,
      targets,
      weights.map((weight) => ({ weight, density })),
    );
    const k = Math.floor(density * LENGTH);
    // The same selection in both (on the exact deltas; bf16 rounds few of them), so only the
    // arithmetic differs.
    const keep = deltas.map((delta) => topKMask(delta, k, 'index').keep);
    const bf16Weights = weights.map(bf16); // torch.tensor([0.7, 0.3], dtype=bfloat16)
    const difference = new Difference();
    for (let i = 0; i < LENGTH; i++) {
      // mergekit: weighted = bf16(δ·w); sign of bf16(Σ) (float accumulation, one rounding);
      // mixed = bf16(Σ kept); divisor = bf16(Σ kept w); bf16(mixed / divisor); bf16(base + ·).
      const weighted = deltas.map((delta, j) => (keep[j]![i] ? bf16(bf16(delta[i]!) * bf16Weights[j]!) : 0));
      const sign = bf16(weighted[0]! + weighted[1]!) >= 0 ? 1 : -1;
      let mixed = 0;
      let divisor = 0;
      weighted.forEach((value, j) => {
        if (Math.sign(value) === sign) {
          mixed += value;
          divisor += bf16Weights[j]!;
        }
      });
      mixed = bf16(mixed);
      divisor = bf16(divisor) || 1;
      const mergekitValue = bf16(base[i]! + bf16(mixed / divisor));
      const fusechatValue = bf16(tensor[i]!); // the engine's single rounding to out_dtype bfloat16
      difference.add(fusechatValue, mergekitValue, base[i]!);
    }
    expect(difference.differing).toBeGreaterThan(0);
    report.bf16Arithmetic = {
      ...difference.summary(),
      fractionDiffering: Number((difference.differing / LENGTH).toPrecision(3)),
    };
  });

  it('prints the numbers', () => {
    console.log(`mergekit-differences ${JSON.stringify(report)}`);
  });
});
