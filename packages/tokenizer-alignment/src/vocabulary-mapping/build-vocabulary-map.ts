import { InvalidInputError, type ProgressCallback, SPACE_MARKERS, type TokenizerLike } from '@fusechat/core';
import { swapSpaceMarker } from '../token-strings/space-marker.js';
import { type VocabularyMap, vocabularyTokens } from './vocabulary-map.js';
import type { CoTokenizedText, VocabularyMapper } from './vocabulary-mapper.js';
import {
  createVocabularyMapperRegistry,
  type VocabularyMapperRegistry,
} from './vocabulary-mapper-registry.js';

export interface BuildVocabularyMapOptions {
  /** A built-in name (`exact`, `min-edit-distance`, `statistics`), a registered name, or a mapper. */
  readonly method: string | VocabularyMapper;
  /** Where names are looked up (default: the built-ins). */
  readonly registry?: VocabularyMapperRegistry | undefined;
  /** Texts tokenised by both tokenizers (`statistics`). */
  readonly corpus?: Iterable<CoTokenizedText> | AsyncIterable<CoTokenizedText> | undefined;
  /** Worker threads for mappers that use them (default: all cores). */
  readonly workers?: number | undefined;
  readonly onProgress?: ProgressCallback | undefined;
  readonly signal?: AbortSignal | undefined;
}

/**
 * Builds the source id → pivot id map (DESIGN.md §3), in this order: BOS/EOS go to BOS/EOS
 * (special tokens as `tokenizer_config.json` names them); then exact string match after
 * replacing the source space marker with the pivot's; then the chosen method for the rest.
 * Markers come from the tokenizers (`byte-level` → `Ġ`, otherwise `▁`).
 *
 * @example
 * ```ts
 * const [qwen, mistral] = await Promise.all([loadTokenizer(qwenDir), loadTokenizer(mistralDir)]);
 * const map = await buildVocabularyMap(qwen, mistral, { method: 'min-edit-distance' });
 * map.sourceToPivot[qwen.tokenToId('Ġwhale')!]; // mistral's '▁whale'
 * ```
 */
export async function buildVocabularyMap(
  source: TokenizerLike,
  pivot: TokenizerLike,
  options: BuildVocabularyMapOptions,
): Promise<VocabularyMap> {
  const mapper =
    typeof options.method === 'string'
      ? (options.registry ?? createVocabularyMapperRegistry()).get(options.method)
      : options.method;
  const sourceMarker = SPACE_MARKERS[source.spaceMarker] ?? SPACE_MARKERS.sentencepiece;
  const pivotMarker = SPACE_MARKERS[pivot.spaceMarker] ?? SPACE_MARKERS.sentencepiece;
  const fallbackId = pivot.specialTokens.unk ?? pivot.specialTokens.eos;
  if (fallbackId === undefined) {
    throw new InvalidInputError(
      'the pivot tokenizer has neither an unk nor an eos token, so unmappable source tokens have nowhere to go',
      { code: 'VOCAB_MAP_NO_FALLBACK' },
    );
  }
  const sourceTokens = vocabularyTokens(source);
  const pivotTokens = vocabularyTokens(pivot);
  const pivotIds = new Map<string, number>();
  pivotTokens.forEach((token, id) => {
    if (token !== undefined && !pivotIds.has(token)) pivotIds.set(token, id);
  });

  const sourceToPivot = new Int32Array(source.vocabSize).fill(-1);
  const { bos, eos } = source.specialTokens;
  if (bos !== undefined && pivot.specialTokens.bos !== undefined)
    sourceToPivot[bos] = pivot.specialTokens.bos;
  if (eos !== undefined && pivot.specialTokens.eos !== undefined)
    sourceToPivot[eos] = pivot.specialTokens.eos;
  const unresolved: number[] = [];
  for (let id = 0; id < source.vocabSize; id++) {
    if (sourceToPivot[id] !== -1) continue;
    const token = sourceTokens[id];
    const exact =
      token === undefined ? undefined : pivotIds.get(swapSpaceMarker(token, sourceMarker, pivotMarker));
    if (exact !== undefined) sourceToPivot[id] = exact;
    else unresolved.push(id);
  }
  const open = Int32Array.from(unresolved);
  const mapped =
    open.length === 0
      ? new Int32Array(0)
      : await mapper.map({
          source,
          pivot,
          sourceTokens,
          pivotTokens,
          sourceMarker,
          pivotMarker,
          unresolved: open,
          fallbackId,
          corpus: options.corpus,
          workers: options.workers,
          onProgress: options.onProgress,
          signal: options.signal,
        });
  if (mapped.length !== open.length) {
    throw new InvalidInputError(
      `mapper "${mapper.name}" returned ${mapped.length} ids for ${open.length} source tokens`,
      {
        code: 'VOCAB_MAP_INVALID',
      },
    );
  }
  open.forEach((sourceId, position) => {
    const pivotId = mapped[position]!;
    if (!(pivotId >= 0 && pivotId < pivot.vocabSize)) {
      throw new InvalidInputError(
        `mapper "${mapper.name}" mapped source id ${sourceId} to ${pivotId}, not a pivot id`,
        {
          code: 'VOCAB_MAP_INVALID',
        },
      );
    }
    sourceToPivot[sourceId] = pivotId;
  });
  return {
    method: mapper.name,
    sourceHash: source.hash,
    pivotHash: pivot.hash,
    sourceVocabSize: source.vocabSize,
    pivotVocabSize: pivot.vocabSize,
    sourceToPivot,
  };
}
