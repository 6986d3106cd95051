import { describe, expect, it } from 'vitest';
import { dtwAlign } from '../sequence-alignment/dtw/dtw-align.js';
import { resolveSpaceMarker, stripSpaceMarker, swapSpaceMarker } from './space-marker.js';

describe('space markers', () => {
  it('resolves convention names and single marker characters', () => {
    expect(resolveSpaceMarker('sentencepiece')).toBe('▁');
    expect(resolveSpaceMarker('byte-level')).toBe('Ġ');
    expect(resolveSpaceMarker('Ġ')).toBe('Ġ');
    expect(resolveSpaceMarker('😀')).toBe('😀'); // one code point, two UTF-16 units
    expect(stripSpaceMarker('▁a▁b', '▁')).toBe('ab');
    expect(swapSpaceMarker('ĠaĠ', 'Ġ', '▁')).toBe('▁a▁');
  });

  it('refuses misspelt conventions instead of treating them as a marker that never occurs', () => {
    for (const option of ['bytelevel', 'SentencePiece', 'byte_level', '▁▁', '', undefined]) {
      expect(() => resolveSpaceMarker(option, 'sourceMarker')).toThrow(
        expect.objectContaining({ code: 'TOKENIZER_UNKNOWN_MARKER', field: 'sourceMarker' }),
      );
    }
    expect(() =>
      dtwAlign(['ĠHello'], ['▁Hello'], { sourceMarker: 'bytelevel', pivotMarker: 'sentencepiece' }),
    ).toThrow(expect.objectContaining({ code: 'TOKENIZER_UNKNOWN_MARKER' }));
  });
});
