import { describe, expect, it } from 'vitest';
import { maxRelativeError, mergeOnce, perturbed, randomValues } from '../test-support.js';
import { taskArithmetic } from './task-arithmetic.js';

function referenceTaskArithmetic(
  base: number[],
  targets: number[][],
  weights: number[],
  lambda: number,
  normalize: boolean,
) {
  const sum = weights.reduce((a, b) => a + b, 0);
  const divisor = normalize && Math.abs(sum) >= 1e-8 ? sum : 1;
  return base.map(
    (b, i) => b + (lambda * targets.reduce((acc, t, j) => acc + weights[j]! * (t[i]! - b), 0)) / divisor,
  );
}

describe('task_arithmetic', () => {
  it('matches a float64 reference on random tensors', () => {
    const base = randomValues(11, 1500);
    const targets = [perturbed(base, 1, 0.02), perturbed(base, 2, 0.05)];
    const weights = [0.7, 0.4];
    for (const [lambda, normalize] of [
      [1, false],
      [0.6, true],
    ] as const) {
      const { tensor } = mergeOnce(taskArithmetic, {
        base,
        models: targets.map((t, j) => ({ tensor: t, parameters: { weight: weights[j] } })),
        parameters: { lambda, normalize },
      });
      expect(
        maxRelativeError(tensor, referenceTaskArithmetic(base, targets, weights, lambda, normalize)),
      ).toBeLessThan(1e-6);
    }
  });

  it('takes a global weight when a model has none (per model → global → default)', () => {
    const base = [0, 0];
    const { tensor } = mergeOnce(taskArithmetic, {
      base,
      models: [{ tensor: [1, 1] }, { tensor: [2, 2], parameters: { weight: 1 } }],
      parameters: { weight: 0.5 },
    });
    expect(tensor).toEqual([2.5, 2.5]);
  });
});
