import { createHash } from 'node:crypto';
import {
  type CaptureRecord,
  IntegrityError,
  InvalidInputError,
  type SparseDistributions,
  type TokenizerLike,
} from '@fusechat/core';
import {
  builtinFusionFunctions,
  createFusionRegistry,
  type FusionFunction,
  type FusionRegistry,
  fuseTargets,
} from '@fusechat/distillation-loss';
import type { DistributionStore } from '@fusechat/distribution-store';
import type { TrainingBatch } from '../training-batch.js';
import type { TrainingDataset } from '../training-dataset.js';
import { type CollateExample, collateBatch } from './collate-batch.js';
import { type BatchingOptions, type PaddingStatistics, planBatches } from './plan-batches.js';

/** Options of {@link createFusionDataset}. */
export interface FusionDatasetOptions extends BatchingOptions {
  /** The pivot's capture store: example order, tokens, label masks, the pivot's own top-k and CE. */
  readonly pivot: DistributionStore;
  /** Source stores aligned onto `pivot` (`fusechat align`), fused with the pivot per example. */
  readonly sources: readonly DistributionStore[];
  /** The model's tokenizer: refused unless it is the one the pivot store was captured with. */
  readonly tokenizer?: TokenizerLike | undefined;
  /** A registry name or a function (default `min_ce`, FuseChat's). */
  readonly fusion?: string | FusionFunction | undefined;
  /** Where fusion names are looked up (default: the built-in functions). */
  readonly registry?: FusionRegistry | undefined;
  /** FuseChat's `distill_temperature` (default 1): each teacher is tempered before fusion; targets are final. */
  readonly temperature?: number | undefined;
  /** Slots per position of the fused targets (default: chosen by the fusion function). */
  readonly k?: number | undefined;
  /** Examples longer than this keep their first `maxLength` tokens (no limit by default). */
  readonly maxLength?: number | undefined;
  /** Token id written on padding (default: the tokenizer's pad, else its eos, else 0); padding is masked. */
  readonly padId?: number | undefined;
}

/** A {@link TrainingDataset} of fused teacher targets, with what its batching costs. */
export interface FusionDataset extends TrainingDataset {
  readonly hasTargets: true;
  /** Padding of one epoch (the same every epoch). */
  readonly padding: PaddingStatistics;
  /** Name of the fusion function. */
  readonly fusion: string;
}

/**
 * The fusion training data (DESIGN.md §1, §3): the pivot store's examples joined by id with each
 * aligned source store, fused per batch with a fusion function (`min_ce` by default) — no fused
 * copy on disk — and packed as `[batch, time, k]` targets the loss applies at temperature 1.
 * A source lacking an example (flagged at capture or alignment) leaves it to the pivot alone.
 * Batches are length-bucketed ({@link planBatches}) and shuffled per epoch with the seed.
 *
 * Everything that can be refused is refused here, before the first step: an incomplete store
 * (`TRAIN_STORE_INCOMPLETE`), an aligned store given as the pivot (`TRAIN_PIVOT_IS_ALIGNED`), a
 * capture store given as a source (`TRAIN_SOURCE_NOT_ALIGNED`), a source aligned onto another
 * pivot store (`TRAIN_PIVOT_MISMATCH`), stores or a model tokenizer that differ from the pivot
 * store's (`TRAIN_TOKENIZER_MISMATCH`), an unknown fusion name, invalid options.
 * `close()` closes the stores.
 *
 * @throws IntegrityError with the codes above; InvalidInputError `TRAIN_INVALID_OPTIONS`;
 *   UnknownNameError for an unknown fusion function.
 * @example
 * ```ts
 * const pivot = await openStore('run/capture/llama');
 * const qwen = await openStore('run/align/qwen');
 * const dataset = await createFusionDataset({ pivot, sources: [qwen], tokenizer, fusion: 'min_ce', batchSize: 8 });
 * dataset.padding.paddingWaste; // 0.03
 * const batch = await dataset.batch(0, 0, 42); // batch.targets: [8, time, k]
 * ```
 */
export async function createFusionDataset(options: FusionDatasetOptions): Promise<FusionDataset> {
  const { pivot, sources } = options;
  const fusion = resolveFusion(options);
  const temperature = options.temperature ?? 1;
  if (!(typeof temperature === 'number' && Number.isFinite(temperature) && temperature > 0)) {
    throw new InvalidInputError(
      `temperature (distill_temperature) must be a finite number > 0, got ${temperature}.`,
      {
        code: 'TRAIN_INVALID_OPTIONS',
        field: 'temperature',
      },
    );
  }
  const maxLength = optionalPositive(options.maxLength, 'maxLength');
  const k = optionalPositive(options.k, 'k');
  checkStores(pivot, sources, options.tokenizer);

  const ids: string[] = [];
  const lengths: number[] = [];
  for await (const record of pivot.records()) {
    ids.push(record.id);
    lengths.push(
      maxLength === undefined ? record.inputIds.length : Math.min(record.inputIds.length, maxLength),
    );
  }
  const plan = planBatches(lengths, options);
  const vocabSize = pivot.manifest.identity.tokenizer.vocabSize;
  const padId =
    options.padId ?? options.tokenizer?.specialTokens.pad ?? options.tokenizer?.specialTokens.eos ?? 0;
  const fingerprint = createHash('sha256')
    .update(
      JSON.stringify({
        kind: 'fusion',
        pivot: pivot.manifest.contentHash,
        sources: sources.map((source) => source.manifest.contentHash),
        fusion: fusion.name,
        temperature,
        k: k ?? null,
        maxLength: maxLength ?? null,
        batchSize: options.batchSize ?? null,
        batchTokens: options.batchTokens ?? null,
        padId,
      }),
    )
    .digest('hex');

  const example = async (index: number): Promise<CollateExample> => {
    const record = cut(await pivot.get(index), maxLength);
    const teachers = [];
    for (const [number, source] of sources.entries()) {
      const aligned = await source.getById(record.id);
      if (aligned === undefined) continue; // Not in this source: the pivot alone (or with the others).
      const cutAligned = cut(aligned, maxLength);
      if (!sameTokens(cutAligned.inputIds, record.inputIds)) {
        throw new IntegrityError(
          'TRAIN_ALIGNED_MISMATCH',
          `${source.dir}: example ${JSON.stringify(record.id)} has other tokens than in the pivot store ${pivot.dir}; realign the source onto this pivot store (fusechat align).`,
          { details: { id: record.id, source: number } },
        );
      }
      teachers.push({ name: sourceName(source, number), distributions: cutAligned.topK, ce: cutAligned.ce });
    }
    const fused = fuseTargets(
      { pivot: { name: 'pivot', distributions: record.topK, ce: record.ce }, sources: teachers },
      { fusion, temperature, vocabSize, ...(k === undefined ? {} : { k }) },
    );
    return {
      id: record.id,
      inputIds: record.inputIds,
      labelMask: record.labelMask,
      targets: fused.distributions,
    };
  };

  return {
    examples: ids.length,
    batchesPerEpoch: plan.batches.length,
    hasTargets: true,
    fingerprint,
    padding: plan.padding,
    fusion: fusion.name,
    async batch(epoch: number, index: number, seed: number): Promise<TrainingBatch> {
      const members = plan.members(epoch, index, seed);
      // In store order, one at a time: the store caches the last decoded block.
      const byIndex = new Map<number, CollateExample>();
      for (const member of [...members].sort((a, b) => a - b)) byIndex.set(member, await example(member));
      return collateBatch(
        members.map((member) => byIndex.get(member)!),
        padId,
      );
    },
    async close() {
      await Promise.all([pivot, ...sources].map((store) => store.close()));
    },
  };
}

function resolveFusion(options: FusionDatasetOptions): FusionFunction {
  if (typeof options.fusion === 'object') return options.fusion;
  return (options.registry ?? createFusionRegistry(builtinFusionFunctions)).get(options.fusion ?? 'min_ce');
}

function checkStores(
  pivot: DistributionStore,
  sources: readonly DistributionStore[],
  tokenizer: TokenizerLike | undefined,
): void {
  const pivotIdentity = pivot.manifest.identity;
  for (const [store, role] of [
    [pivot, 'pivot'],
    ...sources.map((source, i) => [source, `sources[${i}]`] as const),
  ] as const) {
    if (!store.manifest.complete) {
      throw new IntegrityError(
        'TRAIN_STORE_INCOMPLETE',
        `the ${role} store ${store.dir} is incomplete (${store.manifest.examples} examples so far); finish it first (rerun the same fusechat capture/align command, it resumes).`,
        { details: { role, dir: store.dir } },
      );
    }
  }
  if (pivotIdentity.aligned !== undefined) {
    throw new IntegrityError(
      'TRAIN_PIVOT_IS_ALIGNED',
      `the pivot store ${pivot.dir} is an aligned store; give the pivot model's capture store as the pivot and the aligned stores as sources.`,
      { details: { dir: pivot.dir } },
    );
  }
  if (tokenizer !== undefined && tokenizer.hash !== pivotIdentity.tokenizer.hash) {
    throw new IntegrityError(
      'TRAIN_TOKENIZER_MISMATCH',
      `the pivot store ${pivot.dir} was captured with tokenizer ${pivotIdentity.tokenizer.hash.slice(0, 12)}…, but the model's tokenizer is ${tokenizer.hash.slice(0, 12)}…; train the model the pivot store was captured with.`,
      { details: { expected: pivotIdentity.tokenizer.hash, actual: tokenizer.hash } },
    );
  }
  sources.forEach((source, index) => {
    const identity = source.manifest.identity;
    if (identity.aligned === undefined) {
      throw new IntegrityError(
        'TRAIN_SOURCE_NOT_ALIGNED',
        `sources[${index}] (${source.dir}) is a capture store, not an aligned one; align it onto the pivot store first (fusechat align).`,
        { details: { source: index, dir: source.dir } },
      );
    }
    if (identity.aligned.pivotStore !== pivot.manifest.contentHash) {
      throw new IntegrityError(
        'TRAIN_PIVOT_MISMATCH',
        `sources[${index}] (${source.dir}) was aligned onto pivot store ${identity.aligned.pivotStore.slice(0, 12)}…, not onto ${pivot.dir} (${pivot.manifest.contentHash.slice(0, 12)}…); realign it onto this pivot store.`,
        {
          details: {
            source: index,
            expected: pivot.manifest.contentHash,
            actual: identity.aligned.pivotStore,
          },
        },
      );
    }
    if (identity.tokenizer.hash !== pivotIdentity.tokenizer.hash) {
      throw new IntegrityError(
        'TRAIN_TOKENIZER_MISMATCH',
        `sources[${index}] (${source.dir}) is on tokenizer ${identity.tokenizer.hash.slice(0, 12)}…, the pivot store on ${pivotIdentity.tokenizer.hash.slice(0, 12)}…; realign it onto this pivot store.`,
        {
          details: { source: index, expected: pivotIdentity.tokenizer.hash, actual: identity.tokenizer.hash },
        },
      );
    }
  });
}

function cut(record: CaptureRecord, maxLength: number | undefined): CaptureRecord {
  if (maxLength === undefined || record.inputIds.length <= maxLength) return record;
  const { k } = record.topK;
  const topK: SparseDistributions = {
    length: maxLength,
    k,
    ids: record.topK.ids.subarray(0, maxLength * k),
    logits: record.topK.logits.subarray(0, maxLength * k),
  };
  return {
    ...record,
    inputIds: record.inputIds.subarray(0, maxLength),
    labelMask: record.labelMask.subarray(0, maxLength),
    topK,
  };
}

function sameTokens(a: Int32Array, b: Int32Array): boolean {
  if (a.length !== b.length) return false;
  for (let t = 0; t < a.length; t++) if (a[t] !== b[t]) return false;
  return true;
}

function sourceName(source: DistributionStore, index: number): string {
  return source.manifest.identity.model.name || `sources[${index}]`;
}

function optionalPositive(value: number | undefined, field: string): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new InvalidInputError(`${field} must be an integer ≥ 1, got ${value}.`, {
      code: 'TRAIN_INVALID_OPTIONS',
      field,
    });
  }
  return value;
}
