import { IntegrityError, InvalidInputError, type TokenizerLike } from '@fusechat/core';

/**
 * A total map from source token ids to pivot token ids, tied to the two tokenizers it was built
 * for by their hashes (DESIGN.md §3, "Vocabulary mapping").
 */
export interface VocabularyMap {
  /** Name of the mapper that resolved the ids the common rules left open. */
  readonly method: string;
  readonly sourceHash: string;
  readonly pivotHash: string;
  readonly sourceVocabSize: number;
  readonly pivotVocabSize: number;
  /** `sourceToPivot[sourceId]` is the pivot id (length `sourceVocabSize`). */
  readonly sourceToPivot: Int32Array;
}

/** On-disk JSON form of a {@link VocabularyMap}. */
export interface SerializedVocabularyMap {
  readonly format: 'fusechat-vocabulary-map';
  readonly version: 1;
  readonly method: string;
  readonly source: { readonly hash: string; readonly vocabSize: number };
  readonly pivot: { readonly hash: string; readonly vocabSize: number };
  readonly sourceToPivot: number[];
}

/**
 * The JSON text of a map, with both tokenizers' hashes.
 *
 * @example
 * ```ts
 * await writeFile('qwen3-to-mistral.json', serializeVocabularyMap(map));
 * ```
 */
export function serializeVocabularyMap(map: VocabularyMap): string {
  const serialized: SerializedVocabularyMap = {
    format: 'fusechat-vocabulary-map',
    version: 1,
    method: map.method,
    source: { hash: map.sourceHash, vocabSize: map.sourceVocabSize },
    pivot: { hash: map.pivotHash, vocabSize: map.pivotVocabSize },
    sourceToPivot: Array.from(map.sourceToPivot),
  };
  return JSON.stringify(serialized);
}

/**
 * Reads a map written by {@link serializeVocabularyMap}, validating its structure; with
 * `tokenizers`, also checks it belongs to them ({@link checkVocabularyMap}).
 *
 * @example
 * ```ts
 * const map = parseVocabularyMap(await readFile('qwen3-to-mistral.json', 'utf8'), { source: qwen, pivot: mistral });
 * ```
 */
export function parseVocabularyMap(
  json: string | SerializedVocabularyMap,
  tokenizers?: { source: TokenizerLike; pivot: TokenizerLike },
): VocabularyMap {
  let value: unknown = json;
  if (typeof json === 'string') {
    try {
      value = JSON.parse(json);
    } catch (cause) {
      throw new InvalidInputError('vocabulary map is not valid JSON', { code: 'VOCAB_MAP_INVALID', cause });
    }
  }
  const record = value as Partial<SerializedVocabularyMap> | null;
  const invalid = (reason: string) =>
    new InvalidInputError(`not a fusechat vocabulary map: ${reason}`, { code: 'VOCAB_MAP_INVALID' });
  if (record === null || typeof record !== 'object' || record.format !== 'fusechat-vocabulary-map') {
    throw invalid('missing "format": "fusechat-vocabulary-map"');
  }
  if (record.version !== 1) throw invalid(`unsupported version ${String(record.version)}`);
  const { source, pivot, sourceToPivot } = record;
  if (typeof source?.hash !== 'string' || typeof pivot?.hash !== 'string')
    throw invalid('missing tokenizer hashes');
  if (!Number.isInteger(source.vocabSize) || !Number.isInteger(pivot.vocabSize))
    throw invalid('missing vocabulary sizes');
  if (!Array.isArray(sourceToPivot) || sourceToPivot.length !== source.vocabSize) {
    throw invalid(`sourceToPivot must hold ${source.vocabSize} ids`);
  }
  const ids = Int32Array.from(sourceToPivot);
  for (let id = 0; id < ids.length; id++) {
    if (!(sourceToPivot[id] === ids[id] && ids[id]! >= 0 && ids[id]! < pivot.vocabSize)) {
      throw invalid(`sourceToPivot[${id}] = ${String(sourceToPivot[id])} is not a pivot id`);
    }
  }
  const map: VocabularyMap = {
    method: typeof record.method === 'string' ? record.method : 'unknown',
    sourceHash: source.hash,
    pivotHash: pivot.hash,
    sourceVocabSize: source.vocabSize,
    pivotVocabSize: pivot.vocabSize,
    sourceToPivot: ids,
  };
  if (tokenizers !== undefined) checkVocabularyMap(map, tokenizers.source, tokenizers.pivot);
  return map;
}

/**
 * Refuses a map built for other tokenizers: throws an `IntegrityError` with code
 * `VOCAB_MAP_HASH_MISMATCH` naming the side that differs.
 *
 * @example
 * ```ts
 * checkVocabularyMap(map, qwen, mistral); // throws when map was built for llama3 → mistral
 * ```
 */
export function checkVocabularyMap(map: VocabularyMap, source: TokenizerLike, pivot: TokenizerLike): void {
  for (const [side, expected, actual] of [
    ['source', map.sourceHash, source.hash],
    ['pivot', map.pivotHash, pivot.hash],
  ] as const) {
    if (expected !== actual) {
      throw new IntegrityError(
        'VOCAB_MAP_HASH_MISMATCH',
        `vocabulary map was built for a ${side} tokenizer with hash ${expected.slice(0, 12)}…, but this ${side} tokenizer has hash ${actual.slice(0, 12)}…; rebuild the map for these tokenizers`,
        { details: { side, expected, actual } },
      );
    }
  }
  if (map.sourceVocabSize !== source.vocabSize || map.pivotVocabSize !== pivot.vocabSize) {
    throw new IntegrityError(
      'VOCAB_MAP_HASH_MISMATCH',
      `vocabulary map sizes ${map.sourceVocabSize} → ${map.pivotVocabSize} do not match the tokenizers (${source.vocabSize} → ${pivot.vocabSize})`,
    );
  }
}

/**
 * The vocabulary string of every id (`undefined` for ids the tokenizer leaves unused).
 *
 * @example
 * ```ts
 * const strings = vocabularyTokens(mistral); // ['<unk>', '<s>', '</s>', '<0x00>', …]
 * ```
 */
export function vocabularyTokens(tokenizer: TokenizerLike): (string | undefined)[] {
  const tokens = new Array<string | undefined>(tokenizer.vocabSize);
  for (let id = 0; id < tokenizer.vocabSize; id++) tokens[id] = tokenizer.idToToken(id);
  return tokens;
}
