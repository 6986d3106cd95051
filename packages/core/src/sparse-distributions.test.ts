import { describe, expect, it } from 'vitest';
import { isFuseChatError } from './errors.js';
import {
  createSparseDistributions,
  getRow,
  setRow,
  validateSparseDistributions,
} from './sparse-distributions.js';

describe('SparseDistributions', () => {
  it('stores rows and reads back only the filled slots', () => {
    const d = createSparseDistributions(2, 3);
    setRow(d, 0, [4, 1], [2.5, -1]);
    expect(getRow(d, 0)).toEqual({ ids: [4, 1], logits: [2.5, -1] });
    expect(getRow(d, 1)).toEqual({ ids: [], logits: [] });
    expect(Array.from(d.ids)).toEqual([4, 1, -1, -1, -1, -1]);
  });

  it('rejects rows longer than k and mismatched lengths', () => {
    const d = createSparseDistributions(1, 2);
    expect(() => setRow(d, 0, [1, 2, 3], [0, 0, 0])).toThrow(/exceed k = 2/);
    expect(() => setRow(d, 0, [1], [0, 0])).toThrow(/1 ids but 2 logits/);
  });

  it('validates ids against the vocabulary and rejects NaN logits', () => {
    const d = createSparseDistributions(2, 2);
    setRow(d, 1, [9], [0]);
    expect(() => validateSparseDistributions(d, { vocabSize: 5, name: 'pivot' })).toThrow(
      /row 1 holds token id 9/,
    );
    setRow(d, 1, [3], [Number.NaN]);
    try {
      validateSparseDistributions(d, { vocabSize: 5 });
      expect.unreachable();
    } catch (error) {
      expect(isFuseChatError(error, 'NON_FINITE')).toBe(true);
    }
    expect(() =>
      validateSparseDistributions({ length: 2, k: 2, ids: new Int32Array(3), logits: new Float32Array(4) }),
    ).toThrow(/expected 2×2/);
  });
});
