import { resolveSpaceMarker } from '../../token-strings/space-marker.js';
import { createDtwAligner, type DtwAligner, type TokenAlignmentMarkers } from './dtw-aligner.js';

const aligners = new Map<string, DtwAligner>();
const MAX_CACHED_ALIGNERS = 4;

/**
 * Aligns a source token sequence to a pivot token sequence of the same text by dynamic time
 * warping (DESIGN.md §3): cost = code-point Levenshtein distance of the marker-stripped tokens
 * (marker-swapped source vs raw pivot when either stripped string is empty), backtrack ties
 * diag → left → up. Returns, for each pivot position, the ascending source positions aligned to
 * it. The output equals the reference FuseChat alignment token for token; the search is pruned
 * (see {@link createDtwAligner}) but provably identical to the full matrix.
 *
 * Throws `ALIGNMENT_EMPTY_SEQUENCE` when exactly one sequence is empty (two empty sequences give
 * `[]`), `ALIGNMENT_INVALID_TOKEN` for a non-string token and `TOKENIZER_UNKNOWN_MARKER` for an
 * unknown marker convention.
 *
 * @example
 * ```ts
 * dtwAlign(['ĠHello', 'Ġworld'], ['▁Hel', 'lo', '▁world'], {
 *   sourceMarker: 'byte-level',
 *   pivotMarker: 'sentencepiece',
 * }); // [[0], [0], [1]]
 * ```
 */
export function dtwAlign(
  sourceTokens: readonly string[],
  pivotTokens: readonly string[],
  options: TokenAlignmentMarkers,
): number[][] {
  const key = `${resolveSpaceMarker(options.sourceMarker, 'sourceMarker')}\u0000${resolveSpaceMarker(options.pivotMarker, 'pivotMarker')}`;
  let aligner = aligners.get(key);
  if (aligner === undefined) {
    if (aligners.size >= MAX_CACHED_ALIGNERS) aligners.delete(aligners.keys().next().value!);
    aligner = createDtwAligner(options);
    aligners.set(key, aligner);
  }
  return aligner.align(sourceTokens, pivotTokens);
}
