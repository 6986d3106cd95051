import { createSparseDistributions, getRow, setRow } from '@fusechat/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { avgCE, avgCeWeights } from './avg-ce.js';

function single(ids: number[], logits: number[], k = 4) {
  const d = createSparseDistributions(1, k);
  setRow(d, 0, ids, logits);
  return d;
}

function probabilities(row: { ids: number[]; logits: number[] }): Map<number, number> {
  const total = row.logits.reduce((sum, logit) => sum + Math.exp(logit), 0);
  return new Map(row.ids.map((id, i) => [id, Math.exp(row.logits[i]!) / total]));
}

describe('avgCE', () => {
  it('weights teachers by softmax(−CE)', () => {
    const weights = avgCeWeights([
      { distributions: single([0], [0]), ce: 2 },
      { distributions: single([0], [0]), ce: 1 },
    ]);
    // Hand-computed: e^-2 / (e^-2 + e^-1) = 1 / (1 + e) = 0.2689414…
    expect(weights[0]).toBeCloseTo(0.2689414213699951, 12);
    expect(weights[1]).toBeCloseTo(0.7310585786300049, 12);
    expect(
      avgCeWeights([
        { distributions: single([0], [0]), ce: Number.NaN },
        { distributions: single([0], [0]), ce: 3 },
      ]),
    ).toEqual([0, 1]);
    expect(
      avgCeWeights([
        { distributions: single([0], [0]), ce: Number.NaN },
        { distributions: single([0], [0]), ce: Number.NaN },
      ]),
    ).toEqual([1, 0]);
    // Large CEs do not underflow: only the differences matter.
    expect(
      avgCeWeights([
        { distributions: single([0], [0]), ce: 1000 },
        { distributions: single([0], [0]), ce: 1000 },
      ]),
    ).toEqual([0.5, 0.5]);
  });

  it('mixes probabilities over the union of ids and writes log-probabilities', () => {
    // Pivot: ids 1, 2 with logits ln 3, ln 1 → q = (0.75, 0.25). Source: id 2 (dup ignored), 5 → (0.5, 0.5).
    const pivot = single([1, 2], [Math.log(3), 0]);
    const source = single([2, 5, 2], [0, 0, 7]);
    const result = avgCE.fuse([
      { distributions: pivot, ce: 1 },
      { distributions: source, ce: 1 },
    ]);
    const row = getRow(result.distributions, 0);
    // p = 0.5·(0.75, 0.25, 0) + 0.5·(0, 0.5, 0.5) = (0.375, 0.375, 0.25) over ids (1, 2, 5); sorted, ties stable.
    expect(row.ids).toEqual([1, 2, 5]);
    expect(row.logits.map(Math.exp)).toEqual([
      expect.closeTo(0.375, 6),
      expect.closeTo(0.375, 6),
      expect.closeTo(0.25, 6),
    ]);
    expect(result.distributions.k).toBe(8);
  });

  it('reproduces a single teacher and sums to one (property)', () => {
    const entries = fc.uniqueArray(
      fc.tuple(fc.integer({ min: 0, max: 20 }), fc.float({ min: -8, max: 8, noNaN: true })),
      {
        minLength: 1,
        maxLength: 4,
        selector: ([id]) => id,
      },
    );
    fc.assert(
      fc.property(
        fc.array(fc.tuple(entries, fc.float({ min: 0, max: 6, noNaN: true })), {
          minLength: 1,
          maxLength: 3,
        }),
        (teachers) => {
          const built = teachers.map(([row, ce]) => ({
            distributions: single(
              row.map(([id]) => id),
              row.map(([, logit]) => logit),
            ),
            ce,
          }));
          const fused = getRow(avgCE.fuse(built).distributions, 0);
          const total = fused.logits.reduce((sum, logit) => sum + Math.exp(logit), 0);
          expect(total).toBeCloseTo(1, 5);
          if (built.length === 1) {
            const expected = probabilities(getRow(built[0]!.distributions, 0));
            fused.ids.forEach((id, i) => {
              expect(Math.exp(fused.logits[i]!)).toBeCloseTo(expected.get(id)!, 5);
            });
          }
        },
      ),
    );
  });

  it('falls back to the pivot when no weighted teacher has entries at a position', () => {
    const pivot = single([3], [0]);
    const source = single([], []);
    const result = avgCE.fuse([
      { distributions: pivot, ce: Number.NaN },
      { distributions: source, ce: 1 },
    ]);
    expect(getRow(result.distributions, 0).ids).toEqual([3]);
  });
});
