import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { mobyDick, realTokenizer, stateOfTheUnion, tokensOf } from '../../test-fixtures.js';
import { dtwAlign } from '../dtw/dtw-align.js';
import { alignByCharacterOffsets } from './align-by-character-offsets.js';

const BL = { sourceMarker: 'byte-level', pivotMarker: 'sentencepiece' } as const;

function expectMonotoneCover(aligned: number[][], sourceLength: number): void {
  let previousLast = 0;
  const seen = new Set<number>();
  for (const positions of aligned) {
    expect(positions.length).toBeGreaterThan(0);
    expect(positions[0]! - previousLast).toBeGreaterThanOrEqual(0);
    expect(positions[0]! - previousLast).toBeLessThanOrEqual(1);
    for (let k = 1; k < positions.length; k++) expect(positions[k]).toBe(positions[k - 1]! + 1);
    for (const position of positions) seen.add(position);
    previousLast = positions[positions.length - 1]!;
  }
  expect(seen.size).toBe(sourceLength);
  expect(previousLast).toBe(sourceLength - 1);
}

describe('alignByCharacterOffsets', () => {
  it('hand-checked: splits, merges, byte tokens and newlines', () => {
    expect(alignByCharacterOffsets(['ĠHello', 'Ġworld'], ['▁Hel', 'lo', '▁world'], BL)).toEqual([
      [0],
      [0],
      [1],
    ]);
    // 'Ċ' (byte-level newline) and '<0x0A>' are whitespace on both sides; 'Ã©' is 'é' in UTF-8 bytes.
    expect(alignByCharacterOffsets(['caf', 'Ã©', 'Ċ', 'Ġok'], ['▁café', '<0x0A>', '▁ok'], BL)).toEqual([
      [0, 1],
      [2],
      [3],
    ]);
  });

  it('self-alignment is the identity; paths are monotone and cover both sequences (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.stringMatching(/^[▁a-c]{1,3}$/), { minLength: 1, maxLength: 30 }), (tokens) => {
        const aligned = alignByCharacterOffsets(tokens, tokens, { sourceMarker: '▁', pivotMarker: '▁' });
        expectMonotoneCover(aligned, tokens.length);
      }),
    );
    fc.assert(
      fc.property(
        fc.array(fc.stringMatching(/^[▁a-c]{0,3}$/), { minLength: 1, maxLength: 25 }),
        fc.array(fc.stringMatching(/^[Ġa-c]{0,3}$/), { minLength: 1, maxLength: 25 }),
        (source, pivot) =>
          expectMonotoneCover(
            alignByCharacterOffsets(source, pivot, { sourceMarker: '▁', pivotMarker: 'Ġ' }),
            source.length,
          ),
      ),
    );
  });

  it('mostly agrees with DTW on real text', async () => {
    const [qwen, mistral] = await Promise.all([realTokenizer('qwen3'), realTokenizer('mistral')]);
    for (const text of [mobyDick(9).slice(0, 2500), stateOfTheUnion(40).slice(0, 2500)]) {
      const source = tokensOf(qwen, qwen.encode(text));
      const pivot = tokensOf(mistral, mistral.encode(text));
      const byOffsets = alignByCharacterOffsets(source, pivot, BL);
      expectMonotoneCover(byOffsets, source.length);
      const byDtw = dtwAlign(source, pivot, BL);
      const agreeing = byOffsets.filter(
        (positions, j) => JSON.stringify(positions) === JSON.stringify(byDtw[j]),
      ).length;
      expect(agreeing / pivot.length).toBeGreaterThan(0.8);
      expect(alignByCharacterOffsets(pivot, pivot, { sourceMarker: '▁', pivotMarker: '▁' })).toEqual(
        pivot.map((_, i) => [i]),
      );
    }
  });

  it('rejects bad input', () => {
    expect(alignByCharacterOffsets([], [], BL)).toEqual([]);
    expect(() => alignByCharacterOffsets([], ['a'], BL)).toThrow(
      expect.objectContaining({ code: 'ALIGNMENT_EMPTY_SEQUENCE' }),
    );
    expect(() => alignByCharacterOffsets([3 as unknown as string], ['a'], BL)).toThrow(
      expect.objectContaining({ code: 'ALIGNMENT_INVALID_TOKEN' }),
    );
  });
});

describe('alignTokens', () => {
  it('dispatches by method and rejects unknown ones', async () => {
    const { alignTokens } = await import('../align-tokens.js');
    const source = ['ĠHello', 'Ġworld'];
    const pivot = ['▁Hel', 'lo', '▁world'];
    expect(alignTokens(source, pivot, BL)).toEqual(dtwAlign(source, pivot, BL));
    expect(alignTokens(source, pivot, { ...BL, method: 'character-offsets' })).toEqual([[0], [0], [1]]);
    expect(() => alignTokens(source, pivot, { ...BL, method: 'nope' as 'dtw' })).toThrow(
      expect.objectContaining({ code: 'ALIGNMENT_UNKNOWN_METHOD' }),
    );
  });
});
