import { createHash } from 'node:crypto';
import { open, rename } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import {
  type CaptureRecord,
  FuseChatError,
  IntegrityError,
  isFuseChatError,
  type Logger,
  type ProgressCallback,
  silentLogger,
  type TokenizerLike,
} from '@fusechat/core';
import {
  createStoreWriter,
  type DistributionStore,
  openStore,
  type StoreIdentity,
  type StoreManifest,
  type StoreWriterOptions,
} from '@fusechat/distribution-store';
import {
  checkVocabularyMap,
  serializeVocabularyMap,
  type VocabularyMap,
  vocabularyTokens,
} from '@fusechat/tokenizer-alignment';
import {
  type AlignPairRequest,
  type AlignPairResult,
  type AlignWorkerSetup,
  alignExamplePair,
  createPairAligner,
} from './align-pair.js';
import { AlignWorkerPool } from './align-worker-pool.js';

/** Options of {@link alignStore}. */
export interface AlignStoreOptions {
  /** The pivot's complete store. */
  readonly pivot: DistributionStore;
  /** The source's complete store, captured over the same data file. */
  readonly source: DistributionStore;
  readonly pivotTokenizer: TokenizerLike;
  readonly sourceTokenizer: TokenizerLike;
  /** Source id → pivot id, built for exactly these two tokenizers. */
  readonly vocabularyMap: VocabularyMap;
  /** Directory of the aligned store (created; an incomplete one with the same identity is resumed). */
  readonly out: string;
  /** Worker threads (default: one per core; 1 = align in this thread). */
  readonly workers?: number | undefined;
  /** Layout of the aligned store (shard and block sizes; defaults as the store's). */
  readonly store?:
    | Pick<StoreWriterOptions, 'shardTargetBytes' | 'blockExamples' | 'blockTargetBytes'>
    | undefined;
  readonly onProgress?: ProgressCallback | undefined;
  readonly logger?: Logger | undefined;
  /** Stops between examples: uncommitted work is dropped, the aligned store stays resumable. */
  readonly signal?: AbortSignal | undefined;
}

/** What {@link alignStore} did. */
export interface AlignStoreSummary {
  readonly manifest: StoreManifest;
  /** True when the aligned store was already complete (with the same identity): nothing was run. */
  readonly alreadyComplete: boolean;
  /** Aligned examples written by this call (0 when the store was already complete). */
  readonly examples: number;
  /** Pivot positions written by this call. */
  readonly pivotTokens: number;
  /** Pivot examples that had no source record (flagged in the aligned store). */
  readonly missing: number;
  /** How the pivot positions of this call were filled (shares sum to 1). */
  readonly origins: { readonly mapped: number; readonly oneHot: number; readonly pivot: number };
  /** Examples skipped because an earlier, interrupted run had committed them. */
  readonly resumedFrom: number;
  readonly seconds: number;
  readonly workers: number;
}

/** The vocabulary map an aligned store was made with, as a file inside the store directory. */
export const VOCABULARY_MAP_FILE = 'vocabulary-map.json';

/** SHA-256 of a vocabulary map's canonical JSON (what aligned stores name it by). */
export function vocabularyMapHash(map: VocabularyMap): string {
  return createHash('sha256').update(serializeVocabularyMap(map)).digest('hex');
}

/**
 * The identity of the aligned store made from `pivot` and `source` stores with `map`: pivot
 * positions and ids (the pivot's tokenizer, data and template), the source's model, and an
 * `aligned` block naming both stores' content hashes and the map's hash, so training can refuse
 * a store aligned to another pivot.
 */
export function alignedStoreIdentity(
  pivot: StoreManifest,
  source: StoreManifest,
  map: VocabularyMap,
): StoreIdentity {
  return {
    model: source.identity.model,
    tokenizer: pivot.identity.tokenizer,
    data: pivot.identity.data,
    chatTemplateHash: pivot.identity.chatTemplateHash,
    capture: {
      ...source.identity.capture,
      sourceTokenizerHash: source.identity.tokenizer.hash,
      sourceChatTemplateHash: source.identity.chatTemplateHash,
    },
    aligned: {
      pivotStore: pivot.contentHash,
      sourceStore: source.contentHash,
      vocabularyMapHash: vocabularyMapHash(map),
      mapping: map.method,
    },
  };
}

/**
 * Re-indexes every example of a source store onto the pivot (DESIGN.md §3): DTW-aligns the
 * source tokens to the pivot tokens of the same example (joined by example id), maps the source's
 * top-k ids through the vocabulary map and writes an aligned store — pivot positions, pivot ids,
 * a variable number of entries per position, the source's CE — in the pivot store's order. Uses
 * one worker thread per core; resumable like a capture.
 *
 * @throws IntegrityError before any work when the stores were captured with other tokenizers
 *   (`ALIGN_TOKENIZER_MISMATCH`), over different data (`ALIGN_DATA_MISMATCH`), are incomplete
 *   (`ALIGN_STORE_INCOMPLETE`) or already aligned (`ALIGN_ALREADY_ALIGNED`), or when the map was
 *   built for other tokenizers (`VOCAB_MAP_HASH_MISMATCH`).
 * @example
 * ```ts
 * const pivot = await openStore('run/capture/pivot');
 * const source = await openStore('run/capture/qwen');
 * const map = await buildVocabularyMap(qwen, mistral, { method: 'min-edit-distance' });
 * const summary = await alignStore({ pivot, source, pivotTokenizer: mistral, sourceTokenizer: qwen,
 *   vocabularyMap: map, out: 'run/align/qwen' });
 * summary.origins.mapped; // share of pivot positions filled from the source
 * ```
 */
export async function alignStore(options: AlignStoreOptions): Promise<AlignStoreSummary> {
  const started = performance.now();
  const { pivot, source, pivotTokenizer, sourceTokenizer, vocabularyMap } = options;
  const logger = options.logger ?? silentLogger;
  checkAlignStores(pivot.manifest, source.manifest, pivotTokenizer, sourceTokenizer);
  checkVocabularyMap(vocabularyMap, sourceTokenizer, pivotTokenizer);

  const identity = alignedStoreIdentity(pivot.manifest, source.manifest, vocabularyMap);
  const k = Math.max(pivot.manifest.k, source.manifest.k);
  let writer: Awaited<ReturnType<typeof createStoreWriter>>;
  try {
    writer = await createStoreWriter(options.out, {
      identity,
      k,
      nextTokenLogProbs: false,
      ...options.store,
    });
  } catch (error) {
    if (!isFuseChatError(error, 'STORE_ALREADY_COMPLETE')) throw error;
    // Done before: the same inputs (checked) make the same store, so there is nothing to do.
    const done = await openStore(options.out, { expect: identity, requireComplete: true });
    await done.close();
    logger.info(`${options.out} is already complete: nothing to align`);
    return {
      manifest: done.manifest,
      alreadyComplete: true,
      examples: 0,
      pivotTokens: 0,
      missing: 0,
      origins: { mapped: 0, oneHot: 0, pivot: 0 },
      resumedFrom: 0,
      seconds: (performance.now() - started) / 1000,
      workers: 0,
    };
  }
  // Beside the shards (after the writer made the directory): the store names it by hash.
  await writeFileAtomic(join(options.out, VOCABULARY_MAP_FILE), serializeVocabularyMap(vocabularyMap));
  const resumedFrom = writer.cursor;
  if (resumedFrom > 0) logger.info(`resuming the aligned store after ${resumedFrom} examples`);

  const setup: AlignWorkerSetup = {
    sourceTokens: vocabularyTokens(sourceTokenizer).map((token) => token ?? ''),
    pivotTokens: vocabularyTokens(pivotTokenizer).map((token) => token ?? ''),
    sourceMarker: sourceTokenizer.spaceMarker,
    pivotMarker: pivotTokenizer.spaceMarker,
    sourceToPivot: vocabularyMap.sourceToPivot,
  };
  const workerCount = Math.max(1, Math.floor(options.workers ?? availableParallelism()));
  const pool = workerCount > 1 ? new AlignWorkerPool(workerCount, setup) : undefined;
  const local = pool === undefined ? createPairAligner(setup) : undefined;
  const align = (request: AlignPairRequest): Promise<AlignPairResult> =>
    pool !== undefined ? pool.run(request) : Promise.resolve(alignExamplePair(local!, request));

  const sourceById = createSourceLookup(source, resumedFrom);
  let examples = 0;
  let pivotTokens = 0;
  let missing = 0;
  const counts = { mapped: 0, oneHot: 0, pivot: 0 };
  let cursor = resumedFrom;
  let nextRequest = 0;
  // In flight, in pivot order: results are written in the order they were asked for.
  const inFlight: {
    pivotRecord: CaptureRecord;
    sourceRecord: CaptureRecord;
    result: Promise<AlignPairResult>;
  }[] = [];
  const maxInFlight = workerCount * 8;
  const total = pivot.size;

  const checkAborted = () => {
    if (options.signal?.aborted) {
      throw new FuseChatError(
        'ALIGN_ABORTED',
        `alignment of ${options.out} was stopped; rerun to resume it.`,
        {
          cause: options.signal.reason,
        },
      );
    }
  };
  const drainOne = async () => {
    checkAborted();
    const head = inFlight.shift()!;
    const result = await head.result;
    cursor++;
    await writer.append(
      {
        id: head.pivotRecord.id,
        inputIds: head.pivotRecord.inputIds,
        labelMask: head.pivotRecord.labelMask,
        topK: {
          length: head.pivotRecord.inputIds.length,
          k: result.k,
          ids: result.ids,
          logits: result.logits,
        },
        ce: head.sourceRecord.ce,
      },
      { cursor },
    );
    examples++;
    pivotTokens += head.pivotRecord.inputIds.length;
    counts.mapped += result.mapped;
    counts.oneHot += result.oneHot;
    counts.pivot += result.pivot;
    options.onProgress?.({ task: 'align', completed: cursor, total, unit: 'examples' });
  };

  try {
    for await (const pivotRecord of pivot.records({ start: resumedFrom })) {
      checkAborted();
      const sourceRecord = await sourceById(pivotRecord.id);
      if (sourceRecord === undefined) {
        while (inFlight.length > 0) await drainOne();
        cursor++;
        missing++;
        await writer.flag(pivotRecord.id, 'no source record (flagged or missing in the source store)', {
          cursor,
        });
        continue;
      }
      // Records may be shared with the store's block cache: a worker gets copies (their buffers
      // are transferred); in this thread only the source ids are copied (alignment edits them).
      const copy = <T extends Int32Array | Float32Array>(array: T): T =>
        (pool === undefined ? array : array.slice()) as T;
      inFlight.push({
        pivotRecord,
        sourceRecord,
        result: align({
          id: nextRequest++,
          exampleId: pivotRecord.id,
          sourceIds: copy(sourceRecord.inputIds),
          sourceK: sourceRecord.topK.k,
          sourceTopIds: sourceRecord.topK.ids.slice(),
          sourceTopLogits: copy(sourceRecord.topK.logits),
          pivotIds: copy(pivotRecord.inputIds),
          pivotK: pivotRecord.topK.k,
          pivotTopIds: copy(pivotRecord.topK.ids),
          pivotTopLogits: copy(pivotRecord.topK.logits),
        }),
      });
      if (inFlight.length >= maxInFlight) await drainOne();
    }
    while (inFlight.length > 0) await drainOne();
    const manifest = await writer.finish();
    const positions = counts.mapped + counts.oneHot + counts.pivot;
    const share = (value: number) => (positions === 0 ? 0 : value / positions);
    return {
      manifest,
      alreadyComplete: false,
      examples,
      pivotTokens,
      missing,
      origins: { mapped: share(counts.mapped), oneHot: share(counts.oneHot), pivot: share(counts.pivot) },
      resumedFrom,
      seconds: (performance.now() - started) / 1000,
      workers: workerCount,
    };
  } catch (error) {
    // Let in-flight work settle so no worker reply lands after the pool closes.
    await Promise.allSettled(inFlight.map((entry) => entry.result));
    await writer.abort();
    throw error;
  } finally {
    await pool?.close();
  }
}

/**
 * Finds the source record of a pivot example: both stores are in data order, so a cursor over the
 * source store usually holds it next; otherwise (an example flagged in one store only) by id.
 */
function createSourceLookup(
  source: DistributionStore,
  start: number,
): (id: string) => Promise<CaptureRecord | undefined> {
  const iterator = source.records({ start })[Symbol.asyncIterator]();
  let peeked: CaptureRecord | undefined;
  let done = false;
  return async (id) => {
    if (peeked === undefined && !done) {
      const next = await iterator.next();
      if (next.done) done = true;
      else peeked = next.value;
    }
    if (peeked !== undefined && peeked.id === id) {
      const found = peeked;
      peeked = undefined;
      return found;
    }
    return source.getById(id);
  };
}

/**
 * The checks {@link alignStore} makes before any work, for callers that do expensive work first
 * (building a vocabulary map): both stores complete capture stores, captured with these tokenizers,
 * over the same data file.
 *
 * @throws IntegrityError `ALIGN_STORE_INCOMPLETE`, `ALIGN_ALREADY_ALIGNED`, `ALIGN_TOKENIZER_MISMATCH`, `ALIGN_DATA_MISMATCH`.
 * @example
 * ```ts
 * checkAlignStores(pivot.manifest, source.manifest, mistral, qwen);
 * ```
 */
export function checkAlignStores(
  pivot: StoreManifest,
  source: StoreManifest,
  pivotTokenizer: TokenizerLike,
  sourceTokenizer: TokenizerLike,
): void {
  for (const [side, manifest] of [
    ['pivot', pivot],
    ['source', source],
  ] as const) {
    if (!manifest.complete) {
      throw new IntegrityError(
        'ALIGN_STORE_INCOMPLETE',
        `the ${side} store (model ${manifest.identity.model.name}) is incomplete; finish its capture first (rerun the same fusechat capture command to resume it).`,
        { details: { side } },
      );
    }
    if (manifest.identity.aligned !== undefined) {
      throw new IntegrityError(
        'ALIGN_ALREADY_ALIGNED',
        `the ${side} store is itself an aligned store; align a capture store of the source onto the pivot's capture store.`,
        { details: { side } },
      );
    }
  }
  for (const [side, manifest, tokenizer] of [
    ['pivot', pivot, pivotTokenizer],
    ['source', source, sourceTokenizer],
  ] as const) {
    if (manifest.identity.tokenizer.hash !== tokenizer.hash) {
      throw new IntegrityError(
        'ALIGN_TOKENIZER_MISMATCH',
        `the ${side} store was captured with tokenizer ${manifest.identity.tokenizer.hash.slice(0, 12)}…, but the given ${side} model's tokenizer is ${tokenizer.hash.slice(0, 12)}…; pass the model the store was captured with.`,
        { details: { side, expected: manifest.identity.tokenizer.hash, actual: tokenizer.hash } },
      );
    }
  }
  if (pivot.identity.data.hash !== source.identity.data.hash) {
    throw new IntegrityError(
      'ALIGN_DATA_MISMATCH',
      `the pivot and source stores were captured over different data files (sha256 ${pivot.identity.data.hash.slice(0, 12)}… vs ${source.identity.data.hash.slice(0, 12)}…); capture both over the same file.`,
      { details: { pivot: pivot.identity.data.hash, source: source.identity.data.hash } },
    );
  }
}

async function writeFileAtomic(path: string, text: string): Promise<void> {
  const temporary = `${path}.${process.pid}.tmp`;
  const handle = await open(temporary, 'w');
  try {
    await handle.writeFile(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temporary, path);
}
