import { describe, expect, it } from 'vitest';
import { maxRelativeError, mergeOnce, perturbed, randomValues } from '../test-support.js';
import { ties } from './ties.js';

/** TIES per DESIGN.md §3 / mergekit, in float64 with a full sort (ties in index order). */
function referenceTies(
  base: number[],
  targets: number[][],
  weights: number[],
  densities: number[],
  { lambda = 1, normalize = true } = {},
): number[] {
  const trimmed = targets.map((target, j) => {
    const delta = target.map((v, i) => Math.fround(v - base[i]!));
    const k = Math.floor(densities[j]! * delta.length);
    if (densities[j]! >= 1) return delta;
    const order = delta.map((v, i) => [Math.abs(v), i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
    const keep = new Set(order.slice(0, k).map(([, i]) => i));
    return delta.map((v, i) => (keep.has(i) ? v : 0));
  });
  return base.map((b, i) => {
    const weighted = trimmed.map((delta, j) => weights[j]! * delta[i]!);
    const sign = weighted.reduce((a, c) => a + c, 0) >= 0 ? 1 : -1;
    let mixed = 0;
    let divisor = 0;
    weighted.forEach((value, j) => {
      if (Math.sign(value) === sign) {
        mixed += value;
        divisor += weights[j]!;
      }
    });
    if (normalize && divisor !== 0) mixed /= divisor;
    return b + lambda * mixed;
  });
}

describe('ties', () => {
  it('matches a float64 reference on random tensors', () => {
    const base = randomValues(21, 3000);
    const targets = [perturbed(base, 1, 0.02), perturbed(base, 2, 0.03), perturbed(base, 3, 0.01)];
    const weights = [1, 0.5, 0.8];
    const densities = [0.5, 0.3, 0.9];
    for (const options of [{}, { lambda: 0.7, normalize: false }]) {
      const { tensor } = mergeOnce(ties, {
        base,
        models: targets.map((t, j) => ({
          tensor: t,
          parameters: { weight: weights[j], density: densities[j] },
        })),
        parameters: options,
      });
      expect(
        maxRelativeError(tensor, referenceTies(base, targets, weights, densities, options)),
      ).toBeLessThan(1e-6);
    }
  });

  it('matches the reference with negative and zero weights, and kept weights summing to zero', () => {
    const base = randomValues(22, 2000);
    const targets = [perturbed(base, 4, 0.02), perturbed(base, 5, 0.02), perturbed(base, 6, 0.02)];
    for (const weights of [
      [0.7, -0.4, 0.5],
      [1, -1, 0],
      [0.8, -0.3],
      [1, -1],
      [0.5, 0],
    ]) {
      const densities = [0.6, 0.6, 0.6];
      const used = targets.slice(0, weights.length);
      const { tensor } = mergeOnce(ties, {
        base,
        models: used.map((t, j) => ({
          tensor: t,
          parameters: { weight: weights[j], density: densities[j] },
        })),
      });
      expect(maxRelativeError(tensor, referenceTies(base, used, weights, densities))).toBeLessThan(1e-6);
    }
  });

  it('resolves sign conflicts by the weighted majority', () => {
    // +1 (weight 1) and −3 (weight 1): Σ = −2 → negative wins; normalised by the weights kept.
    const { tensor } = mergeOnce(ties, {
      base: [0],
      models: [
        { tensor: [1], parameters: { weight: 1 } },
        { tensor: [-3], parameters: { weight: 1 } },
      ],
    });
    expect(tensor).toEqual([-3]);
  });

  it('rejects a density outside [0, 1]', () => {
    expect(() =>
      mergeOnce(ties, { base: [0], models: [{ tensor: [1], parameters: { weight: 1, density: 1.5 } }] }),
    ).toThrow(/density/);
  });
});
