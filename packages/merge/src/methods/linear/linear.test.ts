import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { maxRelativeError, mergeOnce, randomValues } from '../test-support.js';
import { linear } from './linear.js';

function referenceLinear(tensors: number[][], weights: number[], normalize: boolean): number[] {
  const total = normalize ? weights.reduce((a, b) => a + b, 0) : 1;
  return tensors[0]!.map(
    (_, i) => tensors.reduce((sum, tensor, j) => sum + weights[j]! * tensor[i]!, 0) / total,
  );
}

describe('linear', () => {
  it('matches a float64 reference on random tensors', () => {
    for (const normalize of [true, false]) {
      const tensors = [1, 2, 3].map((seed) => randomValues(seed, 1000));
      const weights = [0.2, 0.5, -0.1];
      const { tensor } = mergeOnce(linear, {
        models: tensors.map((t, j) => ({ tensor: t, parameters: { weight: weights[j] } })),
        parameters: { normalize },
      });
      expect(maxRelativeError(tensor, referenceLinear(tensors, weights, normalize))).toBeLessThan(1e-6);
    }
  });

  it('one-hot weights return that model exactly', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 5 }),
        fc.nat(),
        fc.integer({ min: 1, max: 64 }),
        (count, pick, length) => {
          const chosen = pick % count;
          const tensors = Array.from({ length: count }, (_, j) => randomValues(j + pick, length));
          const { tensor } = mergeOnce(linear, {
            models: tensors.map((t, j) => ({ tensor: t, parameters: { weight: j === chosen ? 1 : 0 } })),
          });
          expect(tensor).toEqual(tensors[chosen]);
        },
      ),
    );
  });

  it('refuses weights that sum to zero with normalize', () => {
    expect(() =>
      mergeOnce(linear, {
        models: [
          { tensor: [1], parameters: { weight: 1 } },
          { tensor: [2], parameters: { weight: -1 } },
        ],
      }),
    ).toThrow(/sum to zero/);
  });

  it('requires a weight per model', () => {
    expect(() => mergeOnce(linear, { models: [{ tensor: [1] }] })).toThrow(/requires "weight"/);
  });
});
