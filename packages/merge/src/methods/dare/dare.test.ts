import { createRandom } from '@fusechat/core';
import { describe, expect, it } from 'vitest';
import { maxRelativeError, mergeOnce, perturbed, randomValues } from '../test-support.js';
import { dareLinear, dareTies } from './dare.js';

const TENSOR = 'model.layers.1.self_attn.o_proj.weight';

/**
 * DARE in float64. The Bernoulli draws follow the documented seed scheme: the tensor's generator
 * is `createRandom(seed).fork(tensorName)`, model j draws `fork('dare:' + j).float()` per element
 * in order and keeps the entry when it is below `density`.
 */
function referenceDare(
  base: number[],
  targets: number[][],
  weights: number[],
  density: number,
  {
    seed,
    consensus,
    rescaleMode = 'l1',
  }: { seed: number; consensus: boolean; rescaleMode?: 'l1' | 'inverse_density' },
): number[] {
  const tensorRandom = createRandom(seed).fork(TENSOR);
  const deltas = targets.map((target, j) => {
    const random = tensorRandom.fork(`dare:${j}`);
    const delta = target.map((v, i) => Math.fround(v - base[i]!));
    const kept = delta.map((v) => (random.float() < density ? v : 0));
    const before = delta.reduce((a, v) => a + Math.abs(v), 0);
    const after = kept.reduce((a, v) => a + Math.abs(v), 0);
    const scale = rescaleMode === 'inverse_density' ? 1 / density : before / after;
    return kept.map((v) => v * scale);
  });
  return base.map((b, i) => {
    const weighted = deltas.map((delta, j) => weights[j]! * delta[i]!);
    if (!consensus) return b + weighted.reduce((a, c) => a + c, 0);
    const sign = weighted.reduce((a, c) => a + c, 0) >= 0 ? 1 : -1;
    return b + weighted.filter((value) => Math.sign(value) === sign).reduce((a, c) => a + c, 0);
  });
}

describe('dare_linear and dare_ties', () => {
  const base = randomValues(31, 4000);
  const targets = [perturbed(base, 1, 0.02), perturbed(base, 2, 0.02)];
  const weights = [0.6, 0.4];
  const call = (density: number, seed: number, parameters: Record<string, unknown> = {}) => ({
    base,
    tensorName: TENSOR,
    seed,
    models: targets.map((t, j) => ({ tensor: t, parameters: { weight: weights[j], density } })),
    parameters,
  });

  it('dare_linear matches a float64 reference (L1 rescale, as mergekit)', () => {
    const { tensor } = mergeOnce(dareLinear, call(0.3, 5));
    expect(
      maxRelativeError(tensor, referenceDare(base, targets, weights, 0.3, { seed: 5, consensus: false })),
    ).toBeLessThan(1e-5);
  });

  it('dare_linear with rescale_mode: inverse_density uses 1/density', () => {
    const { tensor } = mergeOnce(dareLinear, call(0.5, 6, { rescale_mode: 'inverse_density' }));
    const expected = referenceDare(base, targets, weights, 0.5, {
      seed: 6,
      consensus: false,
      rescaleMode: 'inverse_density',
    });
    expect(maxRelativeError(tensor, expected)).toBeLessThan(1e-5);
  });

  it('dare_ties matches a float64 reference', () => {
    const { tensor } = mergeOnce(dareTies, call(0.4, 7));
    expect(
      maxRelativeError(tensor, referenceDare(base, targets, weights, 0.4, { seed: 7, consensus: true })),
    ).toBeLessThan(1e-5);
  });

  it('keeps about `density` of the entries and is deterministic under a seed', () => {
    const first = mergeOnce(dareLinear, call(0.25, 9, { rescale: false })).tensor;
    const again = mergeOnce(dareLinear, call(0.25, 9, { rescale: false })).tensor;
    const other = mergeOnce(dareLinear, call(0.25, 10, { rescale: false })).tensor;
    expect(again).toEqual(first);
    expect(other).not.toEqual(first);
    const unchanged = first.filter((v, i) => v === base[i]).length / base.length;
    // both models drop an entry with probability 0.75 each
    expect(unchanged).toBeGreaterThan(0.75 ** 2 - 0.05);
    expect(unchanged).toBeLessThan(0.75 ** 2 + 0.05);
  });
});
