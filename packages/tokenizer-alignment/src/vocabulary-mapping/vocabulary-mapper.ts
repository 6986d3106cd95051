import type { ProgressCallback, TokenizerLike } from '@fusechat/core';

/** Token ids of one text under both tokenizers (for corpus-based mappers). */
export interface CoTokenizedText {
  readonly sourceIds: readonly number[];
  readonly pivotIds: readonly number[];
}

/**
 * What a mapper gets: both tokenizers with their vocabulary strings and markers, and the source
 * ids that the common rules (BOS/EOS, exact string match) left open.
 */
export interface VocabularyMappingRequest {
  readonly source: TokenizerLike;
  readonly pivot: TokenizerLike;
  /** `sourceTokens[id]`: vocabulary string of every source id (`undefined` when unused). */
  readonly sourceTokens: readonly (string | undefined)[];
  readonly pivotTokens: readonly (string | undefined)[];
  readonly sourceMarker: string;
  readonly pivotMarker: string;
  /** Ascending source ids still to map. */
  readonly unresolved: Int32Array;
  /** Pivot id for a source id no rule can place: pivot unk, or eos when there is no unk. */
  readonly fallbackId: number;
  /** Texts tokenised by both tokenizers (the `statistics` mapper needs them). */
  readonly corpus?: Iterable<CoTokenizedText> | AsyncIterable<CoTokenizedText> | undefined;
  /** Worker threads a mapper may use (default: all cores). */
  readonly workers?: number | undefined;
  readonly onProgress?: ProgressCallback | undefined;
  readonly signal?: AbortSignal | undefined;
}

/**
 * A vocabulary-mapping strategy (plug-in point): returns one pivot id per entry of
 * `request.unresolved`, in the same order.
 *
 * @example
 * ```ts
 * const unkEverything: VocabularyMapper = {
 *   name: 'unk',
 *   map: (request) => new Int32Array(request.unresolved.length).fill(request.fallbackId),
 * };
 * ```
 */
export interface VocabularyMapper {
  readonly name: string;
  map(request: VocabularyMappingRequest): Int32Array | Promise<Int32Array>;
}
