import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { keepLargestMagnitudes, topKMask } from './top-k.js';

function referenceKeep(values: number[], k: number): number[] {
  const order = values.map((value, index) => ({ magnitude: Math.abs(value), index }));
  // Stable sort by descending magnitude: ties keep index order, as the kernel promises.
  order.sort((a, b) => b.magnitude - a.magnitude || a.index - b.index);
  const kept = new Set(order.slice(0, Math.max(0, k)).map((entry) => entry.index));
  return values.map((value, index) => (kept.has(index) ? value : 0));
}

describe('keepLargestMagnitudes', () => {
  it('keeps exactly the k largest magnitudes', () => {
    const values = new Float32Array([0.1, -3, 2, 0, -0.5]);
    keepLargestMagnitudes(values, 2);
    expect([...values]).toEqual([0, -3, 2, 0, 0]);
  });

  it('matches a sort-based reference, ties and zeros included', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(fc.float({ noNaN: true, noDefaultInfinity: true }), fc.constantFrom(0, 1, -1, 0.5)),
          {
            minLength: 1,
            maxLength: 300,
          },
        ),
        fc.nat(320),
        (raw, k) => {
          const values = Float32Array.from(raw);
          const expected = referenceKeep([...values], k);
          keepLargestMagnitudes(values, k);
          expect([...values].map((v) => (Object.is(v, -0) ? 0 : v))).toEqual(
            expected.map((v) => (Object.is(v, -0) ? 0 : v)),
          );
        },
      ),
    );
  });
});

describe('topKMask', () => {
  it('selects k entries, the largest first', () => {
    fc.assert(
      fc.property(
        fc.array(fc.float({ min: 0, max: 1e6, noNaN: true }), { minLength: 1, maxLength: 200 }),
        fc.nat(220),
        (raw, k) => {
          const scores = Float32Array.from(raw);
          const mask = topKMask(scores, k);
          const selected = mask.reduce((sum, bit) => sum + bit, 0);
          expect(selected).toBe(Math.min(k, scores.length));
          const minSelected = Math.min(
            ...[...scores].filter((_, i) => mask[i] === 1),
            Number.POSITIVE_INFINITY,
          );
          const maxUnselected = Math.max(
            ...[...scores].filter((_, i) => mask[i] === 0),
            Number.NEGATIVE_INFINITY,
          );
          if (selected > 0 && selected < scores.length)
            expect(minSelected).toBeGreaterThanOrEqual(maxUnselected);
        },
      ),
    );
  });
});
