import { describe, expect, it } from 'vitest';
import { maxRelativeError, mergeOnce, perturbed, randomValues } from '../test-support.js';
import { sce } from './sce.js';

/** SCE per DESIGN.md §3 in float64 (variance ranking by a full sort). */
function referenceSce(base: number[], targets: number[][], topk: number, variant: 'mergekit' | 'fusechat') {
  const n = base.length;
  const deltas = targets.map((t) => t.map((v, i) => Math.fround(v - base[i]!)));
  let mask = new Array<number>(n).fill(1);
  if (topk < 1) {
    const variance = base.map((_, i) => {
      const values = deltas.map((d) => d[i]!);
      const mean = values.reduce((a, b) => a + b, 0) / values.length;
      return values.reduce((a, v) => a + (v - mean) ** 2, 0) / values.length;
    });
    const nonzero = variance.filter((v) => v !== 0).length;
    const k = Math.floor(nonzero * topk);
    const order = variance.map((v, i) => [v, i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
    mask = new Array<number>(n).fill(0);
    for (const [, i] of order.slice(0, k)) mask[i] = 1;
  }
  const masked = deltas.map((d) => d.map((v, i) => v * mask[i]!));
  const energies = masked.map((d) => d.reduce((a, v) => a + v * v, 0) / n);
  const total = energies.reduce((a, b) => a + b, 0);
  const weights = energies.map((e) => (total === 0 ? 1 / energies.length : e / total));
  const merged = variant === 'mergekit' ? masked : deltas;
  const tensor = base.map((b, i) => {
    const values = merged.map((d) => d[i]!);
    const sign = values.reduce((a, v) => a + v, 0) >= 0 ? 1 : -1;
    let numerator = 0;
    let denominator = 0;
    values.forEach((v, j) => {
      if (Math.sign(v) === sign) {
        numerator += weights[j]! * v;
        denominator += weights[j]!;
      }
    });
    return b + (denominator > 0 ? numerator / denominator : 0);
  });
  return { tensor, weights };
}

describe('sce', () => {
  const base = randomValues(41, 2500, 0.1);
  const targets = [perturbed(base, 1, 0.002), perturbed(base, 2, 0.004), perturbed(base, 3, 0.001)];

  for (const variant of ['mergekit', 'fusechat'] as const) {
    for (const topk of [1, 0.1, 0.5]) {
      it(`matches a float64 reference (sce_variant: ${variant}, select_topk: ${topk})`, () => {
        const actual = mergeOnce(sce, {
          base,
          models: targets.map((tensor) => ({ tensor })),
          parameters: { select_topk: topk, sce_variant: variant },
        });
        const expected = referenceSce(base, targets, topk, variant);
        expect(maxRelativeError(actual.tensor, expected.tensor)).toBeLessThan(1e-6);
        expect(maxRelativeError([...actual.weights!], expected.weights)).toBeLessThan(1e-6);
      });
    }
  }

  for (const variant of ['mergekit', 'fusechat'] as const) {
    it(`matches a float64 reference with two targets (sce_variant: ${variant})`, () => {
      const two = targets.slice(0, 2);
      for (const topk of [1, 0.1, 0.5]) {
        const actual = mergeOnce(sce, {
          base,
          models: two.map((tensor) => ({ tensor })),
          parameters: { select_topk: topk, sce_variant: variant },
        });
        const expected = referenceSce(base, two, topk, variant);
        expect(maxRelativeError(actual.tensor, expected.tensor)).toBeLessThan(1e-6);
        expect(maxRelativeError([...actual.weights!], expected.weights)).toBeLessThan(1e-6);
      }
    });
  }

  it('weights are not uniform for typical fine-tune sized changes (no absolute 1e-6 threshold)', () => {
    const tiny = [perturbed(base, 5, 1e-5), perturbed(base, 6, 3e-5)];
    const { weights } = mergeOnce(sce, { base, models: tiny.map((tensor) => ({ tensor })) });
    expect(weights![1]!).toBeGreaterThan(weights![0]! * 4);
  });
});
