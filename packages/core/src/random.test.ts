import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createRandom } from './random.js';

describe('createRandom', () => {
  it('is deterministic for a seed and differs across seeds', () => {
    const a = createRandom(7);
    const b = createRandom(7);
    const c = createRandom(8);
    const seqA = Array.from({ length: 16 }, () => a.uint32());
    expect(Array.from({ length: 16 }, () => b.uint32())).toEqual(seqA);
    expect(Array.from({ length: 16 }, () => c.uint32())).not.toEqual(seqA);
  });

  it('floats lie in [0, 1) with the moments of a uniform', () => {
    const rng = createRandom(1);
    const n = 200_000;
    let sum = 0;
    let sumSq = 0;
    let outside = 0;
    for (let i = 0; i < n; i++) {
      const x = rng.float64();
      if (!(x >= 0 && x < 1)) outside++;
      sum += x;
      sumSq += x * x;
    }
    expect(outside).toBe(0);
    // Standard error of the mean is 1/sqrt(12 n) ≈ 6.5e-4: 6 sigma bounds cannot fail by chance.
    expect(Math.abs(sum / n - 0.5)).toBeLessThan(4e-3);
    expect(Math.abs(sumSq / n - (sum * sum) / n / n - 1 / 12)).toBeLessThan(3e-3);
  });

  it('normal samples have mean 0 and variance 1', () => {
    const rng = createRandom(2);
    const samples = rng.fillNormal(new Float64Array(200_000));
    const mean = samples.reduce((s, x) => s + x, 0) / samples.length;
    const variance = samples.reduce((s, x) => s + (x - mean) ** 2, 0) / samples.length;
    expect(Math.abs(mean)).toBeLessThan(0.015);
    expect(Math.abs(variance - 1)).toBeLessThan(0.02);
  });

  it('int(n) stays in range for any n and seed', () => {
    fc.assert(
      fc.property(fc.integer(), fc.integer({ min: 1, max: 2 ** 32 }), (seed, n) => {
        const rng = createRandom(seed);
        for (let i = 0; i < 20; i++) {
          const x = rng.int(n);
          if (!(Number.isInteger(x) && x >= 0 && x < n)) return false;
        }
        return true;
      }),
    );
    expect(() => createRandom(1).int(0)).toThrow(RangeError);
  });

  it('fork gives reproducible independent streams without advancing the parent', () => {
    const parent = createRandom(3);
    const first = parent.fork('a').uint32();
    expect(parent.fork('a').uint32()).toBe(first);
    expect(parent.fork('b').uint32()).not.toBe(first);
    expect(parent.uint32()).toBe(createRandom(3).uint32());
  });

  it('shuffle is a permutation', () => {
    const items = Array.from({ length: 100 }, (_, i) => i);
    const shuffled = createRandom(4).shuffle([...items]);
    expect(shuffled).not.toEqual(items);
    expect([...shuffled].sort((a, b) => a - b)).toEqual(items);
  });
});
