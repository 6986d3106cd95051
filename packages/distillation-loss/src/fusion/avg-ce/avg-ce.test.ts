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

  it('tempers each teacher before mixing and lets an empty source row take the pivot’s (float64 transcription)', () => {
    // Three teachers over two positions; sources[0] has no entries at position 1.
    const rows: [number[], number[]][][] = [
      [
        [
          [1, 2, 4],
          [2.5, 1, -0.5],
        ],
        [
          [3, 1],
          [1.25, 0.75],
        ],
      ],
      [
        [
          [2, 5, 2],
          [3, 0.5, 9],
        ],
        [[], []],
      ],
      [
        [
          [4, 1],
          [1.5, 1],
        ],
        [
          [6, 3, 1],
          [2, 1.5, -1],
        ],
      ],
    ];
    const ces = [1.2, 0.4, 0.9];
    const teachers = rows.map((teacher, index) => {
      const d = createSparseDistributions(2, 3);
      teacher.forEach(([ids, logits], position) => {
        setRow(d, position, ids, logits);
      });
      return { distributions: d, ce: ces[index]! };
    });
    for (const temperature of [1, 2, 0.7]) {
      const fused = avgCE.fuse(teachers, { temperature });
      // The reference, written from FuseChat's collator + trainer (not from avg-ce.ts):
      // w = softmax(−CE); q_i = softmax(z_i / T) per teacher, first occurrence of an id; an empty
      // source row is the pivot's tempered row; p = Σ w_i q_i.
      const raw = ces.map((ce) => Math.exp(-ce));
      const weights = raw.map((weight) => weight / raw.reduce((a, b) => a + b, 0));
      for (let position = 0; position < 2; position++) {
        const tempered = (ids: number[], logits: number[]) => {
          const kept = new Map<number, number>();
          ids.forEach((id, slot) => {
            if (!kept.has(id)) kept.set(id, logits[slot]! / temperature);
          });
          let total = 0;
          for (const value of kept.values()) total += Math.exp(value);
          return new Map([...kept].map(([id, value]) => [id, Math.exp(value) / total]));
        };
        const pivotQ = tempered(...rows[0]![position]!);
        const expected = new Map<number, number>();
        rows.forEach((teacher, index) => {
          const [ids, logits] = teacher[position]!;
          const q = ids.length > 0 ? tempered(ids, logits) : pivotQ;
          for (const [id, probability] of q)
            expected.set(id, (expected.get(id) ?? 0) + weights[index]! * probability);
        });
        const row = getRow(fused.distributions, position);
        expect(new Set(row.ids)).toEqual(new Set(expected.keys()));
        // The loss applies softmax at T = 1 over the kept entries: that must be the mixture.
        const total = row.logits.reduce((sum, logit) => sum + Math.exp(logit), 0);
        row.ids.forEach((id, slot) => {
          expect(Math.exp(row.logits[slot]!) / total).toBeCloseTo(expected.get(id)!, 6);
        });
      }
    }
  });

  it('differs from tempering the mixture (the order FuseChat uses matters)', () => {
    const pivot = single([1, 2], [2, 0]);
    const source = single([2, 3], [3, 0]);
    const teachers = [
      { distributions: pivot, ce: 1 },
      { distributions: source, ce: 1 },
    ];
    const temperature = 2;
    const fused = getRow(avgCE.fuse(teachers, { temperature }).distributions, 0);
    const mixedThenTempered = getRow(avgCE.fuse(teachers).distributions, 0);
    const softmaxOf = (logits: number[], t: number) => {
      const total = logits.reduce((sum, logit) => sum + Math.exp(logit / t), 0);
      return logits.map((logit) => Math.exp(logit / t) / total);
    };
    // Hand values, id order 1, 2, 3: q_pivot = softmax((1, 0)) = (0.7311, 0.2689, 0),
    // q_source = softmax((1.5, 0)) over ids (2, 3) = (0, 0.8176, 0.1824): p = (0.3655, 0.5433, 0.0912).
    const byId = new Map(fused.ids.map((id, slot) => [id, softmaxOf(fused.logits, 1)[slot]!]));
    expect(byId.get(1)).toBeCloseTo(0.5 / (1 + Math.exp(-1)), 6);
    expect(byId.get(2)).toBeCloseTo(0.5 / (1 + Math.exp(1)) + 0.5 / (1 + Math.exp(-1.5)), 6);
    expect(byId.get(3)).toBeCloseTo(0.5 / (1 + Math.exp(1.5)), 6);
    const old = new Map(
      mixedThenTempered.ids.map((id, slot) => [id, softmaxOf(mixedThenTempered.logits, 2)[slot]!]),
    );
    expect(Math.abs(old.get(1)! - byId.get(1)!)).toBeGreaterThan(0.05);
  });

  it('lets an empty source row take the pivot’s row with the source’s weight (no renormalisation)', () => {
    const pivot = single([1, 2], [Math.log(3), 0]); // q = (0.75, 0.25)
    const empty = single([], []);
    const other = single([5], [0]); // q = (1)
    const result = avgCE.fuse([
      { distributions: pivot, ce: 1 },
      { distributions: empty, ce: 1 },
      { distributions: other, ce: 1 },
    ]);
    const row = getRow(result.distributions, 0);
    // Weights 1/3 each; the empty source counts as the pivot: p = (2/3·0.75, 2/3·0.25, 1/3).
    // (Renormalising over pivot and `other` would give (0.375, 0.125, 0.5).)
    expect(row.ids).toEqual([1, 5, 2]);
    expect(row.logits.map(Math.exp)).toEqual([
      expect.closeTo(0.5, 6),
      expect.closeTo(1 / 3, 6),
      expect.closeTo(1 / 6, 6),
    ]);
  });

  it('renormalises over the teachers with entries only where the pivot’s row is empty too', () => {
    const pivot = single([], []);
    const source = single([4, 6], [0, 0]);
    const row = getRow(
      avgCE.fuse([
        { distributions: pivot, ce: 0 },
        { distributions: single([], []), ce: 0 },
        { distributions: source, ce: 0 },
      ]).distributions,
      0,
    );
    expect(row.ids).toEqual([4, 6]);
    expect(row.logits.map(Math.exp)).toEqual([expect.closeTo(0.5, 6), expect.closeTo(0.5, 6)]);
  });
});
