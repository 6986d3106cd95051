import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { boundedEditDistance, CodePointTable } from './code-points.js';
import { editDistance } from './edit-distance.js';

/** Independent reference: the Wagner–Fischer table over code points. */
function reference(a: string, b: string): number {
  const x = [...a];
  const y = [...b];
  let previous = y.map((_, j) => j + 1);
  previous.unshift(0);
  for (let i = 1; i <= x.length; i++) {
    const row = [i];
    for (let j = 1; j <= y.length; j++) {
      row.push(
        Math.min(previous[j]! + 1, row[j - 1]! + 1, previous[j - 1]! + (x[i - 1] === y[j - 1] ? 0 : 1)),
      );
    }
    previous = row;
  }
  return previous[y.length]!;
}

describe('editDistance', () => {
  it('hand-checked, in code points', () => {
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(editDistance('😀a', 'a')).toBe(1);
    expect(editDistance('😀😃', '😃😀')).toBe(2);
    expect(editDistance('\uE000😀', '\uE000')).toBe(1); // a private-use character already present
    expect(editDistance('', '▁😀')).toBe(2);
  });

  it('equals the reference, and the bounded kernel agrees within its limit (property)', () => {
    const text = fc.stringMatching(/^[ab▁😀😃\uE000]{0,12}$/u);
    fc.assert(
      fc.property(text, text, fc.integer({ min: 0, max: 14 }), (a, b, limit) => {
        const expected = reference(a, b);
        expect(editDistance(a, b)).toBe(expected);
        const table = new CodePointTable();
        const x = table.add(a);
        const y = table.add(b);
        const { codes, offsets } = table;
        const bounded = boundedEditDistance(
          codes,
          offsets[x]!,
          offsets[x + 1]!,
          codes,
          offsets[y]!,
          offsets[y + 1]!,
          limit,
        );
        if (expected <= limit) expect(bounded).toBe(expected);
        else expect(bounded).toBeGreaterThan(limit);
      }),
      { numRuns: 500 },
    );
  });
});
