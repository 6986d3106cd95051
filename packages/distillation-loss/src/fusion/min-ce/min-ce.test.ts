import {
  createSparseDistributions,
  getRow,
  InvalidInputError,
  NumericalError,
  ShapeMismatchError,
  setRow,
} from '@fusechat/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { minCE } from './min-ce.js';

function distributions(rows: [number[], number[]][], k = 3) {
  const d = createSparseDistributions(rows.length, k);
  rows.forEach(([ids, logits], position) => {
    setRow(d, position, ids, logits);
  });
  return d;
}

const pivot = distributions([
  [
    [1, 2],
    [2, 1],
  ],
  [[3], [0]],
]);
const source = distributions([
  [
    [4, 4, 5],
    [9, 8, 7],
  ],
  [[], []],
]);

describe('minCE', () => {
  it('picks the teacher with the lowest CE', () => {
    const result = minCE.fuse([
      { distributions: pivot, ce: 2 },
      { distributions: source, ce: 1 },
    ]);
    expect(result.teacherWeights).toEqual([0, 1]);
    // Duplicate id 4: the first occurrence (logit 9) wins; the second slot is dropped.
    expect(getRow(result.distributions, 0)).toEqual({ ids: [4, 5], logits: [9, 7] });
    // The source has no entries at position 1: the pivot's row is used.
    expect(getRow(result.distributions, 1)).toEqual({ ids: [3], logits: [0] });
  });

  it('gives ties to the pivot and treats NaN as +∞', () => {
    expect(
      minCE.fuse([
        { distributions: pivot, ce: 1 },
        { distributions: source, ce: 1 },
      ]).teacherWeights,
    ).toEqual([1, 0]);
    expect(
      minCE.fuse([
        { distributions: pivot, ce: Number.NaN },
        { distributions: source, ce: 5 },
      ]).teacherWeights,
    ).toEqual([0, 1]);
    expect(
      minCE.fuse([
        { distributions: pivot, ce: Number.NaN },
        { distributions: source, ce: Number.NaN },
      ]).teacherWeights,
    ).toEqual([1, 0]);
    expect(
      minCE.fuse([
        { distributions: pivot, ce: 3 },
        { distributions: source, ce: 2 },
        { distributions: source, ce: 2 },
      ]).teacherWeights,
    ).toEqual([0, 1, 0]);
  });

  it('honours k', () => {
    const result = minCE.fuse([{ distributions: source, ce: 0 }], { k: 1 });
    expect(result.distributions.k).toBe(1);
    expect(getRow(result.distributions, 0)).toEqual({ ids: [4], logits: [9] });
  });

  it('always returns the winner’s deduplicated rows (property)', () => {
    const row = fc.array(
      fc.tuple(fc.integer({ min: -1, max: 6 }), fc.float({ min: -5, max: 5, noNaN: true })),
      {
        maxLength: 4,
      },
    );
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(fc.array(row, { minLength: 2, maxLength: 2 }), fc.float({ min: 0, max: 10, noNaN: true })),
          { minLength: 1, maxLength: 4 },
        ),
        (teachers) => {
          const built = teachers.map(([rows, ce]) => {
            const d = createSparseDistributions(2, 4);
            rows.forEach((entries, position) => {
              setRow(
                d,
                position,
                entries.map(([id]) => id),
                entries.map(([, l]) => l),
              );
            });
            return { distributions: d, ce };
          });
          const result = minCE.fuse(built);
          const winner = result.teacherWeights.indexOf(1);
          const ces = built.map((teacher) => teacher.ce);
          expect(ces[winner]).toBe(Math.min(...ces));
          expect(ces.indexOf(Math.min(...ces))).toBe(winner);
          for (let position = 0; position < 2; position++) {
            const fused = getRow(result.distributions, position);
            expect(new Set(fused.ids).size).toBe(fused.ids.length);
            const own = getRow(built[winner]!.distributions, position);
            const expectedIds =
              own.ids.length > 0 || winner === 0 ? own.ids : getRow(built[0]!.distributions, position).ids;
            expect(fused.ids).toEqual([...new Set(expectedIds)]);
          }
        },
      ),
    );
  });

  it('rejects inconsistent teachers with errors naming them', () => {
    const short = distributions([[[1], [0]]]);
    expect(() =>
      minCE.fuse([
        { distributions: pivot, ce: 1 },
        { distributions: short, ce: 0 },
      ]),
    ).toThrow(ShapeMismatchError);
    expect(() =>
      minCE.fuse([
        { distributions: pivot, ce: 1 },
        { distributions: short, ce: 0 },
      ]),
    ).toThrow(/sources\[0\] has 1 positions/);
    expect(() => minCE.fuse([{ distributions: pivot, ce: -1 }])).toThrow(InvalidInputError);
    expect(() => minCE.fuse([])).toThrow(/at least one teacher/);
    const nan = distributions([[[1], [Number.NaN]]]);
    expect(() => minCE.fuse([{ name: 'llama', distributions: nan, ce: 1 }])).toThrow(NumericalError);
    expect(() => minCE.fuse([{ name: 'llama', distributions: nan, ce: 1 }])).toThrow(/llama\.distributions/);
    expect(() => minCE.fuse([{ distributions: pivot, ce: 1 }], { k: 0 })).toThrow(/k must be/);
  });

  it('tempers the winner: the loss at T = 1 sees softmax(logits / T)', () => {
    const result = minCE.fuse(
      [
        { distributions: pivot, ce: 2 },
        { distributions: source, ce: 1 },
      ],
      { temperature: 2.5 },
    );
    // Position 0: the source's kept entries (4, 5) with logits (9, 7) / 2.5; position 1: the pivot's (3) at 0.
    expect(getRow(result.distributions, 0).ids).toEqual([4, 5]);
    expect(getRow(result.distributions, 0).logits).toEqual([expect.closeTo(3.6, 6), expect.closeTo(2.8, 6)]);
    expect(getRow(result.distributions, 1)).toEqual({ ids: [3], logits: [0] });
    expect(() => minCE.fuse([{ distributions: pivot, ce: 1 }], { temperature: 0 })).toThrow(/temperature/);
    expect(() => minCE.fuse([{ distributions: pivot, ce: 1 }], { temperature: Number.NaN })).toThrow(
      InvalidInputError,
    );
  });
});
