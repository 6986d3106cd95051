import { describe, expect, it } from 'vitest';
import { applyRepetitionControls, bannedNgramTokens, checkRepetitionOptions } from './logits-processors.js';

/**
 * transformers' `_get_ngrams` / `_get_generated_ngrams` written out as it is there (a dict from
 * each (n − 1)-prefix to the tokens that followed it), the reference for `bannedNgramTokens`.
 */
function transformersBanned(history: readonly number[], size: number): number[] {
  if (history.length + 1 < size) return [];
  const ngrams = new Map<string, number[]>();
  for (let i = 0; i + size <= history.length; i++) {
    const ngram = history.slice(i, i + size);
    const key = ngram.slice(0, -1).join(',');
    ngrams.set(key, [...(ngrams.get(key) ?? []), ngram[size - 1]!]);
  }
  const key = history.slice(history.length + 1 - size).join(',');
  return ngrams.get(key) ?? [];
}

describe('bannedNgramTokens', () => {
  it('bans what completes an existing n-gram (hand-computed)', () => {
    expect(bannedNgramTokens([5, 6, 7, 5, 6], 3)).toEqual([7]);
    expect(bannedNgramTokens([5, 6, 7, 5, 6, 8, 5, 6], 3).sort()).toEqual([7, 8]);
    expect(bannedNgramTokens([1, 2, 3], 2)).toEqual([]); // "3" never seen before the end
    expect(bannedNgramTokens([1, 2, 1], 2)).toEqual([2]);
    expect(bannedNgramTokens([4, 4, 4], 2)).toEqual([4]);
    expect(bannedNgramTokens([9, 3, 9], 1).sort()).toEqual([3, 9]); // size 1: everything seen
    expect(bannedNgramTokens([1], 3)).toEqual([]); // shorter than the prefix
    expect(bannedNgramTokens([1, 2], 3)).toEqual([]); // prefix [1, 2] has no earlier occurrence
    expect(bannedNgramTokens([1, 2, 1, 2], 0)).toEqual([]);
  });

  it("agrees with transformers' prefix-dictionary construction on random histories", () => {
    let state = 12345;
    const next = () => {
      state = (state * 1103515245 + 12345) % 2147483648;
      return state;
    };
    for (let trial = 0; trial < 300; trial++) {
      const length = next() % 40;
      const alphabet = 2 + (next() % 5);
      const history = Array.from({ length }, () => next() % alphabet);
      const size = 1 + (next() % 4);
      const expected = [...new Set(transformersBanned(history, size))].sort((a, b) => a - b);
      expect(bannedNgramTokens(history, size).sort((a, b) => a - b)).toEqual(expected);
    }
  });
});

describe('applyRepetitionControls', () => {
  it('divides positive and multiplies negative logits of seen ids once each (hand-computed, float32)', () => {
    const logits = Float32Array.from([2, -2, 0.5, 3, -1]);
    const out = applyRepetitionControls(logits, [0, 1, 1, 1, 4, 99], { repetitionPenalty: 2 });
    expect(Array.from(out)).toEqual([1, -4, 0.5, 3, -2]);
    expect(Array.from(logits)).toEqual([2, -2, 0.5, 3, -1]); // input untouched
    const fractional = applyRepetitionControls(Float32Array.from([1.3]), [0], { repetitionPenalty: 1.3 });
    // torch: float32(1.3) / float32(1.3) = 1 exactly.
    expect(fractional[0]).toBe(1);
  });

  it('penalises first, then bans n-grams to −∞, and returns the same array when nothing applies', () => {
    const logits = Float32Array.from([1, 2, 3, 4]);
    const out = applyRepetitionControls(logits, [0, 1, 0], { repetitionPenalty: 2, noRepeatNgramSize: 2 });
    expect(Array.from(out)).toEqual([0.5, Number.NEGATIVE_INFINITY, 3, 4]);
    expect(applyRepetitionControls(logits, [0, 1, 0], {})).toBe(logits);
    expect(applyRepetitionControls(logits, [0, 1, 0], { repetitionPenalty: 1, noRepeatNgramSize: 0 })).toBe(
      logits,
    );
  });

  it('refuses a non-positive or non-finite penalty and a fractional or negative n-gram size', () => {
    for (const repetitionPenalty of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => checkRepetitionOptions({ repetitionPenalty })).toThrow(/repetitionPenalty/);
    }
    for (const noRepeatNgramSize of [-1, 1.5, Number.NaN]) {
      expect(() => checkRepetitionOptions({ noRepeatNgramSize })).toThrow(/noRepeatNgramSize/);
    }
    expect(() => checkRepetitionOptions({ repetitionPenalty: 1.2, noRepeatNgramSize: 3 })).not.toThrow();
  });
});
