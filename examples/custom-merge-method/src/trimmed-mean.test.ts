import { createRandom } from '@fusechat/core';
import { testMergeMethod } from '@fusechat/merge/testing';
import { describe, expect, it } from 'vitest';
import { trimmedMean } from './trimmed-mean.js';

// The conformance suite every built-in method passes: shape, finiteness, identity on identical
// inputs, determinism, parameter validation (plus our own invalid values).
testMergeMethod(trimmedMean, {
  parameters: { trim: 0.34 },
  modelCount: 3,
  invalidParameters: [
    { parameters: { trim: 0.5 } },
    { parameters: { trim: -0.1 } },
    { parameters: { lambda: 'one' } },
  ],
});

function mergeOne(base: number[], models: number[][], parameters: Record<string, unknown>): number[] {
  const shape = [base.length];
  return [
    ...(trimmedMean.merge({
      tensorName: 'model.layers.0.mlp.up_proj.weight',
      shape,
      base: Float32Array.from(base),
      models: models.map((values, j) => ({
        model: `m${j}`,
        tensor: Float32Array.from(values),
        parameters: {},
      })),
      parameters: trimmedMean.parseParameters(parameters),
      random: createRandom(0),
    }) as Float32Array),
  ];
}

describe('trimmed_mean', () => {
  it('takes the median delta of three models with trim 0.34 (hand-computed)', () => {
    // deltas per element: [1, 2, 100] → 2; [-4, 0, 0.5] → 0; [3, 3, -50] → 3
    expect(
      mergeOne(
        [10, 1, 0],
        [
          [11, -3, 3],
          [12, 1, 3],
          [110, 1.5, -50],
        ],
        { trim: 0.34 },
      ),
    ).toEqual([12, 1, 3]);
  });

  it('is the plain mean delta with trim 0, scaled by lambda', () => {
    // mean deltas: (1 + 2 + 100) / 3 = 34.333…, (−4 + 0 + 0.5) / 3 = −1.1666…
    const merged = mergeOne(
      [10, 1],
      [
        [11, -3],
        [12, 1],
        [110, 1.5],
      ],
      { trim: 0, lambda: 0.5 },
    );
    expect(merged[0]).toBeCloseTo(10 + 0.5 * (103 / 3), 5);
    expect(merged[1]).toBeCloseTo(1 + 0.5 * (-3.5 / 3), 5);
  });

  it('drops ⌊trim·n⌋ deltas at each end', () => {
    // n = 5, trim 0.2 → drop 1 each side: deltas [−100, 1, 2, 3, 100] → mean(1, 2, 3) = 2
    expect(mergeOne([0], [[100], [1], [-100], [3], [2]], { trim: 0.2 })).toEqual([2]);
    // n = 4, trim 0.2 → ⌊0.8⌋ = 0 dropped: plain mean
    expect(mergeOne([0], [[100], [1], [-100], [3]], { trim: 0.2 })).toEqual([1]);
  });

  it('uses its defaults (trim 0.2, lambda 1)', () => {
    expect(trimmedMean.parseParameters({})).toEqual({ trim: 0.2, lambda: 1 });
  });
});
