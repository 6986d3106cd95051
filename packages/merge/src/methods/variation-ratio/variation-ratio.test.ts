import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { maxRelativeError, mergeOnce, perturbed, randomValues } from '../test-support.js';
import { variationRatio, variationRatioWeights } from './variation-ratio.js';

function referenceVarm(base: number[], targets: number[][]): { tensor: number[]; weights: number[] } {
  const changes = targets.map((t) => t.reduce((sum, v, i) => sum + (v - base[i]!) ** 2, 0) / base.length);
  const total = changes.reduce((a, b) => a + b, 0);
  const weights = total === 0 ? targets.map(() => 1 / targets.length) : changes.map((c) => c / total);
  return { tensor: base.map((_, i) => targets.reduce((sum, t, j) => sum + weights[j]! * t[i]!, 0)), weights };
}

describe('variation_ratio (VaRM)', () => {
  it('matches a float64 reference on random tensors', () => {
    const base = randomValues(7, 2000, 0.05);
    const targets = [perturbed(base, 1, 0.001), perturbed(base, 2, 0.003), perturbed(base, 3, 0.0005)];
    const actual = mergeOnce(variationRatio, { base, models: targets.map((tensor) => ({ tensor })) });
    const expected = referenceVarm(base, targets);
    expect(maxRelativeError(actual.tensor, expected.tensor)).toBeLessThan(1e-6);
    expect(maxRelativeError([...actual.weights!], expected.weights)).toBeLessThan(1e-12);
  });

  it('puts weight 1 on the only target that changed', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 4 }), fc.nat(), (count, pick) => {
        const changed = pick % count;
        const base = randomValues(pick, 50);
        const targets = Array.from({ length: count }, (_, j) =>
          j === changed ? perturbed(base, pick + 1, 0.1) : [...base],
        );
        const { tensor, weights } = mergeOnce(variationRatio, {
          base,
          models: targets.map((t) => ({ tensor: t })),
        });
        expect(weights!.map((w, j) => (j === changed ? w === 1 : w === 0)).every(Boolean)).toBe(true);
        expect(maxRelativeError(tensor, targets[changed]!)).toBeLessThan(1e-7);
      }),
    );
  });

  it('is uniform when no target changed', () => {
    expect(variationRatioWeights([0, 0, 0, 0])).toEqual([0.25, 0.25, 0.25, 0.25]);
    const base = randomValues(3, 10);
    const { tensor } = mergeOnce(variationRatio, { base, models: [{ tensor: base }, { tensor: base }] });
    expect(tensor).toEqual(base);
  });
});
