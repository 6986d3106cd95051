import {
  type CaptureRecord,
  InvalidInputError,
  type SparseDistributions,
  type TokenizerLike,
} from '@fusechat/core';
import { checkVocabularyMap, type VocabularyMap } from '../vocabulary-mapping/vocabulary-map.js';
import { type AlignedRowOrigin, alignDistributions } from './align-distributions.js';

/**
 * Re-indexes one source capture record onto the pivot's record of the same example: token
 * strings come from the tokenizers, the map is checked against both tokenizers' hashes
 * (`VOCAB_MAP_HASH_MISMATCH` otherwise), then {@link alignDistributions} does the work.
 *
 * @example
 * ```ts
 * const aligned = alignCaptureRecord(qwenRecord, mistralRecord, { source: qwen, pivot: mistral, vocabularyMap: map });
 * ```
 */
export function alignCaptureRecord(
  sourceRecord: CaptureRecord,
  pivotRecord: CaptureRecord,
  options: { source: TokenizerLike; pivot: TokenizerLike; vocabularyMap: VocabularyMap },
): { distributions: SparseDistributions; origins: AlignedRowOrigin[] } {
  const { source, pivot, vocabularyMap } = options;
  checkVocabularyMap(vocabularyMap, source, pivot);
  if (sourceRecord.id !== pivotRecord.id) {
    throw new InvalidInputError(
      `records of different examples: source "${sourceRecord.id}", pivot "${pivotRecord.id}"`,
      {
        code: 'ALIGNMENT_EXAMPLE_MISMATCH',
      },
    );
  }
  return alignDistributions({
    source: {
      tokens: tokenStrings(source, sourceRecord.inputIds, 'source'),
      distributions: sourceRecord.topK,
      marker: source.spaceMarker,
    },
    pivot: {
      tokens: tokenStrings(pivot, pivotRecord.inputIds, 'pivot'),
      inputIds: pivotRecord.inputIds,
      distributions: pivotRecord.topK,
      marker: pivot.spaceMarker,
    },
    sourceToPivot: vocabularyMap.sourceToPivot,
  });
}

/**
 * The vocabulary strings of a sequence of ids; an id missing from the vocabulary is an
 * `ALIGNMENT_UNKNOWN_TOKEN` error naming its position.
 *
 * @example
 * ```ts
 * tokenStrings(mistral, [1, 22557]); // ['<s>', '▁Hello']
 * ```
 */
export function tokenStrings(tokenizer: TokenizerLike, ids: ArrayLike<number>, side = 'sequence'): string[] {
  const tokens = new Array<string>(ids.length);
  for (let position = 0; position < ids.length; position++) {
    const token = tokenizer.idToToken(ids[position]!);
    if (token === undefined) {
      throw new InvalidInputError(
        `${side} token id ${ids[position]} at position ${position} is not in the vocabulary`,
        {
          code: 'ALIGNMENT_UNKNOWN_TOKEN',
          field: `${side}[${position}]`,
        },
      );
    }
    tokens[position] = token;
  }
  return tokens;
}
