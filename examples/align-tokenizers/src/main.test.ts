import type { TokenizerLike } from '@fusechat/core';
import type { VocabularyMap } from '@fusechat/tokenizer-alignment';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  alignText,
  formatAlignmentTable,
  mobyDickParagraph,
  runAlignTokenizers,
  summarise,
  type TextAlignment,
} from './main.js';

function expectMonotoneAndCovering(aligned: TextAlignment): void {
  const { alignment, sourceTokens, pivotTokens } = aligned;
  expect(alignment).toHaveLength(pivotTokens.length);
  const seen = new Set<number>();
  let previousLast = 0;
  for (const positions of alignment) {
    expect(positions.length).toBeGreaterThan(0);
    // Ascending within a pivot position, and never going back across positions.
    expect(positions[0]!).toBeGreaterThanOrEqual(previousLast);
    for (let k = 1; k < positions.length; k++) expect(positions[k]!).toBeGreaterThan(positions[k - 1]!);
    // A DTW path moves at most one source token per pivot token.
    expect(positions[0]! - previousLast).toBeLessThanOrEqual(1);
    previousLast = positions[positions.length - 1]!;
    for (const position of positions) seen.add(position);
  }
  expect([...seen].sort((a, b) => a - b)).toEqual(sourceTokens.map((_, j) => j));
}

describe('examples/align-tokenizers', () => {
  let source: TokenizerLike;
  let pivot: TokenizerLike;
  let aligned: TextAlignment;
  let map: VocabularyMap;
  let text: string;

  beforeAll(async () => {
    ({ source, pivot, aligned, map, text } = await runAlignTokenizers());
  });

  it('loads Qwen3 (byte-level) as the source and Mistral (SentencePiece) as the pivot', () => {
    expect(source.vocabSize).toBe(151_669);
    expect(source.spaceMarker).toBe('byte-level');
    expect(pivot.vocabSize).toBe(32_000);
    expect(pivot.spaceMarker).toBe('sentencepiece');
    expect(text.startsWith('Call me Ishmael. Some years ago')).toBe(true);
  });

  it('aligns the paragraph monotonically, covering every pivot and source position', () => {
    expect(aligned.pivotTokens.length).toBeGreaterThan(200);
    expectMonotoneAndCovering(aligned);
  });

  it('aligns other paragraphs monotonically and completely too', async () => {
    for (const [chapter, paragraph] of [
      [1, 2],
      [3, 1],
      [42, 3],
    ] as const) {
      expectMonotoneAndCovering(alignText(await mobyDickParagraph(chapter, paragraph), source, pivot));
    }
  });

  it('aligns "the watery part of the world." as checked by hand', () => {
    const sentence = alignText('the watery part of the world.', source, pivot);
    expect(sentence.sourceTokens).toEqual(['the', 'Ġwat', 'ery', 'Ġpart', 'Ġof', 'Ġthe', 'Ġworld', '.']);
    expect(sentence.pivotTokens).toEqual([
      '<s>',
      '▁the',
      '▁water',
      'y',
      '▁part',
      '▁of',
      '▁the',
      '▁world',
      '.',
    ]);
    // Qwen3 adds no BOS, so "the" also covers <s>; "▁water" ← "Ġwat" (lev 2) and "y" ← "ery" (lev 2)
    // beat letting "Ġwat" or "ery" cover both ("water"/"ery" costs 3).
    expect(sentence.alignment).toEqual([[0], [0], [1], [2], [3], [4], [5], [6], [7]]);
  });

  it('breaks the tie in "Call me Ishmael." towards the diagonal, as DESIGN.md says', () => {
    const sentence = alignText('Call me Ishmael.', source, pivot);
    expect(sentence.sourceTokens).toEqual(['Call', 'Ġme', 'ĠIsh', 'ma', 'el', '.']);
    expect(sentence.pivotTokens).toEqual(['<s>', '▁Call', '▁me', '▁I', 'sh', 'ma', 'el', '.']);
    // "▁I" ← "Ġme" (lev("me","I") = 2) and "▁I" ← "ĠIsh" (lev("Ish","I") = 2) cost the same; at
    // ("ĠIsh", "sh") the backtrack prefers the diagonal, so "▁I" takes "Ġme".
    expect(sentence.alignment).toEqual([[0], [0], [1], [1], [2], [3], [4], [5]]);
  });

  it('builds an exact vocabulary map over the whole source vocabulary', () => {
    expect(map.method).toBe('exact');
    expect(map.sourceToPivot).toHaveLength(source.vocabSize);
    const id = (tokenizer: TokenizerLike, token: string) => tokenizer.tokenToId(token)!;
    expect(map.sourceToPivot[id(source, 'Ġthe')]).toBe(id(pivot, '▁the'));
    expect(map.sourceToPivot[id(source, 'Ġworld')]).toBe(id(pivot, '▁world'));
    expect(map.sourceToPivot[id(source, 'ery')]).toBe(id(pivot, 'ery'));
    // No exact partner: the pivot's <unk>.
    expect(map.sourceToPivot[id(source, 'Ġpurse')]).toBe(pivot.specialTokens.unk);
    const summary = summarise(aligned, map);
    expect(summary.exactlyMapped).toBeGreaterThan(0.8 * summary.pivotTokens);
    expect(summary.exactlyMapped).toBeLessThan(summary.pivotTokens);
  });

  it('prints one table row per pivot token', () => {
    const lines = formatAlignmentTable(aligned, map, pivot).split('\n');
    expect(lines).toHaveLength(aligned.pivotTokens.length + 2);
    expect(lines[2 + 2]).toMatch(/^ {3}2 {2}"▁me" +← {2}"Ġme" +=$/);
    expect(lines[2 + 3]).toMatch(/^ {3}3 {2}"▁I" +← {2}"Ġme" +"▁me"$/);
  });
});
