import { describe, expect, it } from 'vitest';
import { maxRelativeError, mergeOnce, perturbed, randomValues } from '../test-support.js';
import { slerp, slerpTensors } from './slerp.js';

/** mergekit's slerp in float64, written from its definition. */
function referenceSlerp(t: number, v0: number[], v1: number[]): number[] {
  const norm = (v: number[]) => Math.hypot(...v);
  const n0 = norm(v0);
  const n1 = norm(v1);
  const u0 = n0 > 1e-8 ? v0.map((x) => x / n0) : v0;
  const u1 = n1 > 1e-8 ? v1.map((x) => x / n1) : v1;
  const dot = u0.reduce((a, x, i) => a + x * u1[i]!, 0);
  if (Math.abs(dot) > 0.9995) return v0.map((x, i) => (1 - t) * x + t * v1[i]!);
  const theta = Math.acos(dot);
  const s0 = Math.sin(theta - theta * t) / Math.sin(theta);
  const s1 = Math.sin(theta * t) / Math.sin(theta);
  return v0.map((x, i) => s0 * x + s1 * v1[i]!);
}

describe('slerp', () => {
  it('matches a float64 reference on random tensors', () => {
    const a = randomValues(51, 1000);
    const b = randomValues(52, 1000);
    for (const t of [0, 0.25, 0.5, 0.9, 1]) {
      const { tensor } = mergeOnce(slerp, { base: a, models: [{ tensor: b }], parameters: { t } });
      expect(maxRelativeError(tensor, referenceSlerp(t, a, b))).toBeLessThan(1e-6);
    }
  });

  it('lerps nearly colinear tensors', () => {
    const a = randomValues(53, 500);
    const b = perturbed(a, 54, 1e-4);
    const { tensor } = mergeOnce(slerp, { base: a, models: [{ tensor: b }], parameters: { t: 0.3 } });
    expect(
      maxRelativeError(
        tensor,
        a.map((x, i) => 0.7 * x + 0.3 * b[i]!),
      ),
    ).toBeLessThan(1e-6);
  });

  it('interpolates on the circle', () => {
    const out = slerpTensors(0.5, new Float32Array([1, 0]), new Float32Array([0, 1]));
    expect(out[0]).toBeCloseTo(Math.SQRT1_2, 6);
    expect(out[1]).toBeCloseTo(Math.SQRT1_2, 6);
  });

  it('requires t', () => {
    expect(() => mergeOnce(slerp, { base: [1], models: [{ tensor: [2] }] })).toThrow(/requires "t"/);
  });
});
