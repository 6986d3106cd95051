import { UnknownNameError } from '@fusechat/core';
import { alignByCharacterOffsets } from './character-offsets/align-by-character-offsets.js';
import { dtwAlign } from './dtw/dtw-align.js';
import type { TokenAlignmentMarkers } from './dtw/dtw-aligner.js';

/** How two token sequences of the same text are aligned. */
export type TokenAlignmentMethod = 'dtw' | 'character-offsets';

/**
 * Aligns two token sequences of the same text with the chosen method: `dtw` (default, the exact
 * FuseChat reference semantics of DESIGN.md §3) or `character-offsets` (linear time).
 *
 * @example
 * ```ts
 * alignTokens(qwenTokens, mistralTokens, { sourceMarker: 'byte-level', pivotMarker: 'sentencepiece', method: 'character-offsets' });
 * ```
 */
export function alignTokens(
  sourceTokens: readonly string[],
  pivotTokens: readonly string[],
  options: TokenAlignmentMarkers & { method?: TokenAlignmentMethod | undefined },
): number[][] {
  const method = options.method ?? 'dtw';
  if (method === 'dtw') return dtwAlign(sourceTokens, pivotTokens, options);
  if (method === 'character-offsets') return alignByCharacterOffsets(sourceTokens, pivotTokens, options);
  throw new UnknownNameError('token alignment method', String(method), ['dtw', 'character-offsets'], {
    code: 'ALIGNMENT_UNKNOWN_METHOD',
  });
}
