import { readFile } from 'node:fs/promises';
import {
  type CaptureRecord,
  EMPTY_SLOT,
  FileFormatError,
  IntegrityError,
  InvalidInputError,
  type ProgressCallback,
  type TokenizerLike,
} from '@fusechat/core';
import { vocabularyMapHash } from '@fusechat/distribution-capture';
import { type DistributionStore, openStore } from '@fusechat/distribution-store';
import {
  ALIGNED_POSITION_RULES,
  alignDistributions,
  alignedPositionRules,
  checkVocabularyMap,
  createDtwAligner,
  parseVocabularyMap,
  type VocabularyMap,
  vocabularyTokens,
} from '@fusechat/tokenizer-alignment';
import type { AlignmentRecord, AlignmentRule, AlignmentSample } from '../results/pipeline-results.js';

/** Options of {@link buildAlignmentRecord}. */
export interface BuildAlignmentRecordOptions {
  /** The source's name in the pipeline config. */
  readonly source: string;
  /** The pivot's capture store, the source's capture store and the aligned store made from them. */
  readonly pivotStorePath: string;
  readonly sourceStorePath: string;
  readonly alignedStorePath: string;
  /** The vocabulary map the aligned store was made with (`align/<source>/vocabulary-map.json`). */
  readonly vocabularyMapPath: string;
  readonly pivotTokenizer: TokenizerLike;
  readonly sourceTokenizer: TokenizerLike;
  /** The configured mapping (`exact`, `min-edit-distance`, `statistics`); default: the map's method. */
  readonly mapping?: string | undefined;
  /** Sample conversations for the viewer: the first `samples` examples of the aligned store (default 3). */
  readonly samples?: number | undefined;
  /** Entries of each position's aligned distribution kept for the viewer (default 5). */
  readonly topEntries?: number | undefined;
  /** Pivot positions kept per sample (default 192): a report stays small with long conversations. */
  readonly maxPositions?: number | undefined;
  readonly onProgress?: ProgressCallback | undefined;
}

/**
 * The alignment viewer's record of one source: per pivot position of every example of the
 * aligned store, the rule that filled it (recounted over the whole store), and for the first
 * examples both tokenizations, each pivot position's DTW-aligned source positions, its rule and
 * the top entries of the aligned distribution as training reads it.
 *
 * The alignment and the rules are recomputed with @fusechat/tokenizer-alignment's own DTW aligner
 * and re-indexer (`alignDistributions`, then `alignedPositionRules` on its origins) from the two
 * capture stores, exactly as `alignStore` made the aligned store; every recomputed row is checked
 * against the row the aligned store holds, so the viewer cannot show a rule the store did not use.
 *
 * @throws IntegrityError `REPORT_ALIGNMENT_INPUT_MISMATCH` when the aligned store was not made from
 *   these two stores and this map (or the tokenizers are not theirs), `REPORT_ALIGNMENT_DISAGREES`
 *   when a recomputed row differs from the stored one (realign the source); `VOCAB_MAP_*` and
 *   `STORE_*` errors of the map and store readers.
 * @example
 * ```ts
 * const record = await buildAlignmentRecord({
 *   source: 'moby', pivotStorePath: 'run/capture/pivot/store', sourceStorePath: 'run/capture/moby/store',
 *   alignedStorePath: 'run/align/moby/store', vocabularyMapPath: 'run/align/moby/vocabulary-map.json',
 *   pivotTokenizer, sourceTokenizer, mapping: 'min-edit-distance', samples: 3,
 * });
 * record.ruleCounts['many-to-one']; // pivot positions filled from a split source token
 * ```
 */
export async function buildAlignmentRecord(options: BuildAlignmentRecordOptions): Promise<AlignmentRecord> {
  const sampleCount = nonNegativeInteger(options.samples ?? 3, 'samples');
  const topEntries = nonNegativeInteger(options.topEntries ?? 5, 'topEntries');
  const maxPositions = nonNegativeInteger(options.maxPositions ?? 192, 'maxPositions');
  const { pivotTokenizer, sourceTokenizer } = options;
  const map = await readVocabularyMap(options.vocabularyMapPath);
  checkVocabularyMap(map, sourceTokenizer, pivotTokenizer);

  const stores: DistributionStore[] = [];
  try {
    const open = async (path: string) => {
      const store = await openStore(path, { requireComplete: true });
      stores.push(store);
      return store;
    };
    const pivot = await open(options.pivotStorePath);
    const source = await open(options.sourceStorePath);
    const aligned = await open(options.alignedStorePath);
    checkInputs(options, pivot, source, aligned, map);

    const sourceVocabulary = vocabularyTokens(sourceTokenizer);
    const pivotVocabulary = vocabularyTokens(pivotTokenizer);
    const dtw = createDtwAligner({
      sourceMarker: sourceTokenizer.spaceMarker,
      pivotMarker: pivotTokenizer.spaceMarker,
    });
    const ruleCounts: Record<AlignmentRule, number> = Object.fromEntries(
      ALIGNED_POSITION_RULES.map((rule) => [rule, 0]),
    ) as Record<AlignmentRule, number>;
    const samples: AlignmentSample[] = [];
    const pivotById = createLookup(pivot);
    const sourceById = createLookup(source);
    let completed = 0;
    for await (const alignedRecord of aligned) {
      const pivotRecord = await pivotById(alignedRecord.id);
      const sourceRecord = await sourceById(alignedRecord.id);
      if (pivotRecord === undefined || sourceRecord === undefined) {
        throw new IntegrityError(
          'REPORT_ALIGNMENT_INPUT_MISMATCH',
          `example "${alignedRecord.id}" of the aligned store ${options.alignedStorePath} is missing from the ${pivotRecord === undefined ? 'pivot' : 'source'} store; the aligned store was made from other stores (realign the source).`,
          { details: { id: alignedRecord.id, source: options.source } },
        );
      }
      const sourceTokens = strings(sourceVocabulary, sourceRecord.inputIds, 'source', sourceRecord.id);
      const pivotTokens = strings(pivotVocabulary, pivotRecord.inputIds, 'pivot', pivotRecord.id);
      // As alignStore (align-pair.ts): ids past the tokenizer (a model's padding rows) name no token
      // and leave the source row, which keeps its order.
      const sourceTopIds = sourceRecord.topK.ids.slice();
      for (let slot = 0; slot < sourceTopIds.length; slot++)
        if (sourceTopIds[slot]! >= map.sourceToPivot.length) sourceTopIds[slot] = EMPTY_SLOT;
      const alignment =
        sourceTokens.length === 0 || pivotTokens.length === 0
          ? undefined
          : dtw.align(sourceTokens, pivotTokens);
      const { distributions, origins } = alignDistributions({
        source: {
          tokens: sourceTokens,
          distributions: { ...sourceRecord.topK, ids: sourceTopIds },
          marker: sourceTokenizer.spaceMarker,
        },
        pivot: {
          tokens: pivotTokens,
          inputIds: pivotRecord.inputIds,
          distributions: pivotRecord.topK,
          marker: pivotTokenizer.spaceMarker,
        },
        sourceToPivot: map.sourceToPivot,
        alignment,
      });
      checkAgreement(alignedRecord, distributions, options.alignedStorePath);
      const rules = alignedPositionRules(alignment, origins);
      for (const rule of rules) ruleCounts[rule]++;
      if (samples.length < sampleCount) {
        samples.push(
          sampleOf(
            alignedRecord,
            { pivotTokens, sourceTokens, alignment, rules, pivotVocabulary },
            {
              topEntries,
              maxPositions,
            },
          ),
        );
      }
      completed++;
      options.onProgress?.({
        task: `report alignment ${options.source}`,
        completed,
        total: aligned.size,
        unit: 'examples',
      });
    }
    return { source: options.source, mapping: options.mapping ?? map.method, ruleCounts, samples };
  } finally {
    await Promise.all(stores.map((store) => store.close()));
  }
}

/** Softmax (T = 1, float64) over a row's kept entries, most probable first. */
export function rowProbabilities(
  ids: ArrayLike<number>,
  logits: ArrayLike<number>,
  offset: number,
  k: number,
): { id: number; probability: number }[] {
  const entries = rowEntries(ids, logits, offset, k);
  if (entries.length === 0) return [];
  const max = Math.max(...entries.map((entry) => entry.logit));
  let total = 0;
  const weights = entries.map((entry) => {
    const weight = Math.exp(entry.logit - max);
    total += weight;
    return weight;
  });
  return entries
    .map((entry, index) => ({ id: entry.id, probability: weights[index]! / total }))
    .sort((a, b) => b.probability - a.probability);
}

function sampleOf(
  alignedRecord: CaptureRecord,
  computed: {
    pivotTokens: string[];
    sourceTokens: string[];
    alignment: number[][] | undefined;
    rules: AlignmentRule[];
    pivotVocabulary: readonly (string | undefined)[];
  },
  limits: { topEntries: number; maxPositions: number },
): AlignmentSample {
  const { pivotTokens, sourceTokens, alignment, rules, pivotVocabulary } = computed;
  const kept = Math.min(pivotTokens.length, limits.maxPositions);
  const { k, ids, logits } = alignedRecord.topK;
  const positions: AlignmentSample['positions'][number][] = [];
  let lastSource = -1;
  for (let position = 0; position < kept; position++) {
    const sourcePositions = alignment?.[position] ?? [];
    for (const sourcePosition of sourcePositions) lastSource = Math.max(lastSource, sourcePosition);
    positions.push({
      sourcePositions: [...sourcePositions],
      rule: rules[position]!,
      top: rowProbabilities(ids, logits, position * k, k)
        .slice(0, limits.topEntries)
        .map(({ id, probability }) => ({ token: pivotVocabulary[id] ?? `<id ${id}>`, probability })),
    });
  }
  return {
    id: alignedRecord.id,
    pivotTokens: pivotTokens.slice(0, kept),
    // Cut where the kept pivot positions end (all of them when nothing was cut).
    sourceTokens: kept === pivotTokens.length ? sourceTokens : sourceTokens.slice(0, lastSource + 1),
    positions,
  };
}

function checkInputs(
  options: BuildAlignmentRecordOptions,
  pivot: DistributionStore,
  source: DistributionStore,
  aligned: DistributionStore,
  map: VocabularyMap,
): void {
  const problems: string[] = [];
  const stamp = aligned.manifest.identity.aligned;
  if (stamp === undefined) {
    problems.push(`${options.alignedStorePath} is a capture store, not an aligned store`);
  } else {
    if (stamp.pivotStore !== pivot.manifest.contentHash)
      problems.push(`it was aligned onto another pivot store than ${options.pivotStorePath}`);
    if (stamp.sourceStore !== source.manifest.contentHash)
      problems.push(`it was aligned from another source store than ${options.sourceStorePath}`);
    if (stamp.vocabularyMapHash !== vocabularyMapHash(map))
      problems.push(`it was aligned with another vocabulary map than ${options.vocabularyMapPath}`);
  }
  if (pivot.manifest.identity.tokenizer.hash !== options.pivotTokenizer.hash)
    problems.push(`the pivot store was captured with another tokenizer than the pivot tokenizer given`);
  if (source.manifest.identity.tokenizer.hash !== options.sourceTokenizer.hash)
    problems.push(`the source store was captured with another tokenizer than the source tokenizer given`);
  if (problems.length > 0) {
    throw new IntegrityError(
      'REPORT_ALIGNMENT_INPUT_MISMATCH',
      `cannot explain the alignment of source "${options.source}" (${options.alignedStorePath}): ${problems.join('; ')}. Pass the stores, map and tokenizers the align stage used.`,
      { details: { source: options.source, problems } },
    );
  }
}

function checkAgreement(
  stored: CaptureRecord,
  recomputed: { length: number; k: number; ids: Int32Array; logits: Float32Array },
  path: string,
): void {
  for (let position = 0; position < recomputed.length; position++) {
    const a = rowEntries(stored.topK.ids, stored.topK.logits, position * stored.topK.k, stored.topK.k);
    const b = rowEntries(recomputed.ids, recomputed.logits, position * recomputed.k, recomputed.k);
    // Ids exactly; values up to the store's fp16 rounding (a quantized source store is re-rounded).
    const same =
      a.length === b.length &&
      a.every(
        (entry, slot) =>
          entry.id === b[slot]!.id &&
          Math.abs(entry.logit - b[slot]!.logit) <= FP16_TOLERANCE * Math.max(1, Math.abs(entry.logit)),
      );
    if (!same) {
      const show = (entries: { id: number; logit: number }[]) =>
        `[${entries.map((entry) => `${entry.id}:${entry.logit}`).join(', ')}]`;
      throw new IntegrityError(
        'REPORT_ALIGNMENT_DISAGREES',
        `example "${stored.id}", pivot position ${position}: the aligned store ${path} holds ${show(a)}, re-indexing gives ${show(b)}; the store was made by another version of the re-indexer or from other inputs (realign the source).`,
        { details: { id: stored.id, position } },
      );
    }
  }
}

/** Relative rounding of an fp16 value (2^-11), doubled. */
const FP16_TOLERANCE = 2 ** -10;

function rowEntries(
  ids: ArrayLike<number>,
  logits: ArrayLike<number>,
  offset: number,
  k: number,
): { id: number; logit: number }[] {
  const entries: { id: number; logit: number }[] = [];
  for (let slot = 0; slot < k; slot++) {
    const id = ids[offset + slot]!;
    if (id !== EMPTY_SLOT) entries.push({ id, logit: logits[offset + slot]! });
  }
  return entries;
}

/** Finds a record by id: the stores share data order, so a cursor usually holds it next. */
function createLookup(store: DistributionStore): (id: string) => Promise<CaptureRecord | undefined> {
  const iterator = store.records()[Symbol.asyncIterator]();
  let peeked: CaptureRecord | undefined;
  let done = false;
  return async (id) => {
    while (!done) {
      if (peeked === undefined) {
        const next = await iterator.next();
        if (next.done) {
          done = true;
          break;
        }
        peeked = next.value;
      }
      if (peeked.id === id) {
        const found = peeked;
        peeked = undefined;
        return found;
      }
      break;
    }
    return store.getById(id);
  };
}

function strings(
  vocabulary: readonly (string | undefined)[],
  ids: ArrayLike<number>,
  side: string,
  exampleId: string,
): string[] {
  const tokens = new Array<string>(ids.length);
  for (let position = 0; position < ids.length; position++) {
    const id = ids[position]!;
    if (id < 0 || id >= vocabulary.length) {
      throw new InvalidInputError(
        `example "${exampleId}": ${side} token id ${id} at position ${position} is outside the ${side} vocabulary (${vocabulary.length} ids); was the ${side} store captured with another tokenizer?`,
        { code: 'ALIGN_UNKNOWN_TOKEN', details: { example: exampleId, side, position } },
      );
    }
    // As alignStore: an id the tokenizer leaves unused is the empty string.
    tokens[position] = vocabulary[id] ?? '';
  }
  return tokens;
}

async function readVocabularyMap(path: string): Promise<VocabularyMap> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    throw new FileFormatError('REPORT_VOCABULARY_MAP_UNREADABLE', `cannot read the vocabulary map ${path}`, {
      path,
      cause,
    });
  }
  return parseVocabularyMap(text);
}

function nonNegativeInteger(value: number, field: string): number {
  if (!Number.isInteger(value) || value < 0) {
    throw new InvalidInputError(`${field} must be an integer ≥ 0, got ${value}`, {
      code: 'REPORT_INVALID_OPTION',
      field,
    });
  }
  return value;
}
