import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger, TokenizerLike } from '@fusechat/core';
import {
  alignStore,
  checkAlignStores,
  VOCABULARY_MAP_FILE,
  vocabularyMapHash,
} from '@fusechat/distribution-capture';
import { type DistributionStore, openStore } from '@fusechat/distribution-store';
import {
  buildVocabularyMap,
  type CoTokenizedText,
  loadTokenizer,
  parseVocabularyMap,
  serializeVocabularyMap,
  type VocabularyMap,
} from '@fusechat/tokenizer-alignment';
import type { ResolvedSource } from '../config/resolved-pipeline-config.js';
import { buildAlignmentRecord } from '../report/build-alignment-record.js';
import type { AlignmentInputs } from '../run-directory/run-layout.js';
import { writeJsonAtomic, writeTextAtomic } from '../run-directory/write-json-atomic.js';
import { tokenizerDirOf } from './model-inputs.js';
import { runStage, type StageOutcome } from './run-stage.js';
import { type PipelineContext, stageProgress } from './stage-context.js';

/** What the align stage records in its `stage.json`. */
export interface AlignStageSummary extends Record<string, unknown> {
  readonly examples: number;
  readonly pivotTokens: number;
  /** Shares of pivot positions: from the source, one-hot, pivot fallback. */
  readonly origins: { readonly mapped: number; readonly oneHot: number; readonly pivot: number };
  readonly missing: number;
  readonly mapping: string;
  readonly vocabularyMapHash: string;
}

/**
 * `align/<source>`: the source → pivot vocabulary map (`buildVocabularyMap` with the source's
 * `mapping`) and the source store DTW-aligned onto the pivot store (`alignStore`) in
 * `align/<source>/store`, the map also as `align/<source>/vocabulary-map.json`. An interrupted
 * alignment resumes with the map it wrote first.
 */
export async function alignStage(
  context: PipelineContext,
  source: ResolvedSource,
  upstream: { readonly pivotCapture: string; readonly sourceCapture: string },
): Promise<StageOutcome<AlignStageSummary>> {
  const { config, layout } = context;
  const paths = layout.align[source.name]!;
  const pivotStorePath = layout.capture[config.pivot.name]!.store;
  const sourceStorePath = layout.capture[source.name]!.store;
  return runStage(context, {
    id: paths.id,
    kind: 'align',
    dir: paths.dir,
    inputs: { pivotCapture: upstream.pivotCapture, sourceCapture: upstream.sourceCapture },
    config: { mapping: source.mapping },
    run: async (log) => {
      const onProgress = stageProgress(context, paths.id);
      const [pivotTokenizer, sourceTokenizer] = await Promise.all([
        loadTokenizer(config.pivot.model),
        loadTokenizer(tokenizerDirOf(source)),
      ]);
      const pivot = await openStore(pivotStorePath, {
        expect: { tokenizer: { hash: pivotTokenizer.hash } },
        requireComplete: true,
      });
      let sourceStore: DistributionStore | undefined;
      try {
        sourceStore = await openStore(sourceStorePath, {
          expect: { tokenizer: { hash: sourceTokenizer.hash } },
          requireComplete: true,
        });
        checkAlignStores(pivot.manifest, sourceStore.manifest, pivotTokenizer, sourceTokenizer);
        const map = await vocabularyMapFor(paths.store, source.mapping, {
          pivot,
          source: sourceStore,
          pivotTokenizer,
          sourceTokenizer,
          onProgress,
        });
        await writeTextAtomic(paths.vocabularyMap, serializeVocabularyMap(map));
        const summary = await alignStore({
          pivot,
          source: sourceStore,
          pivotTokenizer,
          sourceTokenizer,
          vocabularyMap: map,
          out: paths.store,
          onProgress,
          logger: log,
          signal: context.signal,
        });
        await writeAlignmentRecord(paths.alignmentRecord, {
          ...layout.alignment[source.name]!,
          pivotTokenizer,
          sourceTokenizer,
          log,
        });
        log.info(
          `${summary.manifest.examples} examples: ${(summary.origins.mapped * 100).toFixed(1)}% of positions from the source, ${(summary.origins.oneHot * 100).toFixed(1)}% one-hot, ${(summary.origins.pivot * 100).toFixed(1)}% pivot fallback`,
        );
        return {
          examples: summary.manifest.examples,
          pivotTokens: summary.pivotTokens,
          origins: summary.origins,
          missing: summary.missing,
          mapping: map.method,
          vocabularyMapHash: vocabularyMapHash(map),
        };
      } finally {
        await Promise.all([pivot.close(), sourceStore?.close()]);
      }
    },
  });
}

/**
 * The alignment viewer's record (`buildAlignmentRecord`: both tokenizations of the first
 * examples, each pivot position's rule), made once per alignment. A failure costs the viewer
 * only, so it is a warning.
 */
async function writeAlignmentRecord(
  path: string,
  inputs: AlignmentInputs & { pivotTokenizer: TokenizerLike; sourceTokenizer: TokenizerLike; log: Logger },
): Promise<void> {
  try {
    const record = await buildAlignmentRecord({
      source: inputs.source,
      pivotStorePath: inputs.pivotStore,
      sourceStorePath: inputs.sourceStore,
      alignedStorePath: inputs.alignedStore,
      vocabularyMapPath: inputs.vocabularyMap,
      pivotTokenizer: inputs.pivotTokenizer,
      sourceTokenizer: inputs.sourceTokenizer,
      mapping: inputs.mapping,
    });
    await writeJsonAtomic(path, record);
  } catch (error) {
    inputs.log.warn(`no alignment viewer record: ${(error as Error).message}`);
  }
}

async function vocabularyMapFor(
  out: string,
  mapping: string,
  context: {
    pivot: DistributionStore;
    source: DistributionStore;
    pivotTokenizer: TokenizerLike;
    sourceTokenizer: TokenizerLike;
    onProgress: ReturnType<typeof stageProgress>;
  },
): Promise<VocabularyMap> {
  const tokenizers = { source: context.sourceTokenizer, pivot: context.pivotTokenizer };
  // A resumed alignment continues with the map its first attempt wrote into the store (a
  // min-edit-distance map of a large vocabulary is slow to rebuild).
  const previous = await readFile(join(out, VOCABULARY_MAP_FILE), 'utf8').catch(() => undefined);
  if (previous !== undefined) {
    const map = parseVocabularyMap(previous, tokenizers);
    if (map.method === mapping) return map;
  }
  return buildVocabularyMap(context.sourceTokenizer, context.pivotTokenizer, {
    method: mapping,
    corpus: mapping === 'statistics' ? coTokenized(context.pivot, context.source) : undefined,
    onProgress: context.onProgress,
  });
}

/** Both stores' token ids of every example they share (the `statistics` mapper's corpus). */
async function* coTokenized(
  pivot: DistributionStore,
  source: DistributionStore,
): AsyncGenerator<CoTokenizedText> {
  for await (const pivotRecord of pivot) {
    const sourceRecord = await source.getById(pivotRecord.id);
    if (sourceRecord === undefined) continue;
    yield { sourceIds: Array.from(sourceRecord.inputIds), pivotIds: Array.from(pivotRecord.inputIds) };
  }
}
