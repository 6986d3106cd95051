import { InvalidInputError } from '@fusechat/core';
import { createDtwAligner } from '../../sequence-alignment/dtw/dtw-aligner.js';
import type { CoTokenizedText, VocabularyMapper, VocabularyMappingRequest } from '../vocabulary-mapper.js';

/**
 * Sparse co-alignment counts: how often source id `s` was DTW-aligned with pivot id `p` over a
 * corpus. Held as one hash map per source id that occurred — never a dense |V|×|V| matrix.
 */
export interface CoAlignmentCounts {
  /** `counts.get(sourceId)?.get(pivotId)` = number of co-aligned positions. */
  readonly counts: Map<number, Map<number, number>>;
  /** Texts counted. */
  readonly texts: number;
}

/**
 * Counts co-aligned (pivot id, source id) pairs over the DTW alignments of a corpus of texts
 * tokenised by both tokenizers.
 *
 * @example
 * ```ts
 * const counts = await countCoAlignments(corpus, { sourceTokens, pivotTokens, sourceMarker: 'Ġ', pivotMarker: '▁' });
 * ```
 */
export async function countCoAlignments(
  corpus: Iterable<CoTokenizedText> | AsyncIterable<CoTokenizedText>,
  options: Pick<
    VocabularyMappingRequest,
    'sourceTokens' | 'pivotTokens' | 'sourceMarker' | 'pivotMarker' | 'signal'
  >,
): Promise<CoAlignmentCounts> {
  const aligner = createDtwAligner({ sourceMarker: options.sourceMarker, pivotMarker: options.pivotMarker });
  const counts = new Map<number, Map<number, number>>();
  let texts = 0;
  const stringsOf = (
    ids: readonly number[],
    tokens: readonly (string | undefined)[],
    side: string,
  ): string[] =>
    ids.map((id, position) => {
      const token = tokens[id];
      if (token === undefined) {
        throw new InvalidInputError(
          `corpus text ${texts}: ${side} id ${id} at position ${position} is not in the vocabulary`,
          {
            code: 'VOCAB_MAP_UNKNOWN_TOKEN',
            field: `corpus[${texts}].${side}Ids[${position}]`,
          },
        );
      }
      return token;
    });
  for await (const text of corpus) {
    options.signal?.throwIfAborted();
    if (text.sourceIds.length === 0 && text.pivotIds.length === 0) {
      texts++;
      continue;
    }
    const aligned = aligner.align(
      stringsOf(text.sourceIds, options.sourceTokens, 'source'),
      stringsOf(text.pivotIds, options.pivotTokens, 'pivot'),
    );
    aligned.forEach((sourcePositions, pivotPosition) => {
      const pivotId = text.pivotIds[pivotPosition]!;
      for (const sourcePosition of sourcePositions) {
        const sourceId = text.sourceIds[sourcePosition]!;
        let row = counts.get(sourceId);
        if (row === undefined) {
          row = new Map();
          counts.set(sourceId, row);
        }
        row.set(pivotId, (row.get(pivotId) ?? 0) + 1);
      }
    });
    texts++;
  }
  return { counts, texts };
}

/**
 * `statistics` (DESIGN.md §3): counts co-aligned (pivot id, source id) pairs over the DTW
 * alignments of `request.corpus`, then maps each open source id to the co-aligned pivot id with
 * the smallest DTW cost (ties → lowest pivot id); no candidate → the fallback (pivot unk, or eos).
 *
 * @example
 * ```ts
 * const map = await buildVocabularyMap(qwen, mistral, { method: 'statistics', corpus });
 * ```
 */
export const statisticsMapper: VocabularyMapper = {
  name: 'statistics',
  async map(request: VocabularyMappingRequest): Promise<Int32Array> {
    if (request.corpus === undefined) {
      throw new InvalidInputError(
        'the statistics vocabulary map needs a corpus of texts tokenised by both tokenizers',
        {
          code: 'VOCAB_MAP_NO_CORPUS',
          field: 'corpus',
        },
      );
    }
    const { counts } = await countCoAlignments(request.corpus, request);
    const aligner = createDtwAligner({
      sourceMarker: request.sourceMarker,
      pivotMarker: request.pivotMarker,
    });
    const result = new Int32Array(request.unresolved.length).fill(request.fallbackId);
    request.unresolved.forEach((sourceId, position) => {
      const candidates = counts.get(sourceId);
      const sourceToken = request.sourceTokens[sourceId];
      if (candidates === undefined || sourceToken === undefined) return;
      let best = Number.POSITIVE_INFINITY;
      let bestId = -1;
      for (const pivotId of candidates.keys()) {
        const cost = aligner.cost(sourceToken, request.pivotTokens[pivotId]!);
        if (cost < best || (cost === best && pivotId < bestId)) {
          best = cost;
          bestId = pivotId;
        }
      }
      result[position] = bestId;
    });
    return result;
  },
};
