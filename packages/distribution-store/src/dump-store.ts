import type { CaptureRecord } from '@fusechat/core';
import type { DistributionStore } from './open-store.js';
import type { FlaggedExample } from './store-manifest.js';

/** A record as `fusechat store dump` prints it: decoded values, rows best first, NaN as `null`. */
export interface DumpedRecord {
  id: string;
  input_ids: number[];
  label_mask: number[];
  /** One row per position: the stored entries only (aligned rows may be shorter than k). */
  topk_ids: number[][];
  topk_logits: number[][];
  ce: number | null;
  next_token_logprobs?: (number | null)[];
}

const finiteOrNull = (value: number) => (Number.isFinite(value) ? value : null);

/**
 * Decodes a record into plain JSON-ready values.
 *
 * @example
 * ```ts
 * console.log(JSON.stringify(dumpRecord(await store.get(0))));
 * ```
 */
export function dumpRecord(record: CaptureRecord): DumpedRecord {
  const { k, ids, logits } = record.topK;
  const topkIds: number[][] = [];
  const topkLogits: number[][] = [];
  for (let t = 0; t < record.topK.length; t++) {
    const rowIds: number[] = [];
    const rowLogits: number[] = [];
    for (let slot = 0; slot < k; slot++) {
      const id = ids[t * k + slot]!;
      if (id < 0) continue;
      rowIds.push(id);
      rowLogits.push(logits[t * k + slot]!);
    }
    topkIds.push(rowIds);
    topkLogits.push(rowLogits);
  }
  return {
    id: record.id,
    input_ids: Array.from(record.inputIds),
    label_mask: Array.from(record.labelMask),
    topk_ids: topkIds,
    topk_logits: topkLogits,
    ce: finiteOrNull(record.ce),
    ...(record.nextTokenLogProbs
      ? { next_token_logprobs: Array.from(record.nextTokenLogProbs, finiteOrNull) }
      : {}),
  };
}

/**
 * The records of a store in store order (optionally only `ids`, in the order given, and at most
 * `limit`), decoded by {@link dumpRecord}. Ids not in the store are skipped; `missing` lists them.
 *
 * @example
 * ```ts
 * for await (const line of dumpStore(store, { limit: 5 })) process.stdout.write(`${JSON.stringify(line)}\n`);
 * ```
 */
export async function* dumpStore(
  store: DistributionStore,
  options: { limit?: number; ids?: readonly string[]; missing?: string[] } = {},
): AsyncIterable<DumpedRecord> {
  const limit = options.limit ?? Number.POSITIVE_INFINITY;
  let emitted = 0;
  if (options.ids) {
    for (const id of options.ids) {
      if (emitted >= limit) return;
      const record = await store.getById(id);
      if (!record) {
        options.missing?.push(id);
        continue;
      }
      emitted++;
      yield dumpRecord(record);
    }
    return;
  }
  for await (const record of store.records({ end: Math.min(store.size, limit) })) yield dumpRecord(record);
}

/** What `fusechat store inspect` prints. */
export interface StoreSummary {
  dir: string;
  formatVersion: number;
  complete: boolean;
  model: string;
  modelConfigHash: string;
  tokenizerHash: string;
  vocabSize: number;
  dataHash: string;
  chatTemplateHash: string | null;
  aligned: { pivotStore: string; sourceStore: string; vocabularyMapHash: string; mapping: string } | null;
  k: number;
  valueEncoding: string;
  compression: string;
  hasNextTokenLogProbs: boolean;
  examples: number;
  tokens: number;
  supervisedTokens: number;
  shards: number;
  /** Shard + index bytes (the manifest excluded). */
  bytes: number;
  bytesPerToken: number | null;
  flaggedCount: number;
  flagged: FlaggedExample[];
  contentHash: string;
}

/**
 * A summary of a store from its manifest alone (no shard is read).
 *
 * @example
 * ```ts
 * const summary = inspectStore(store);
 * console.log(`${summary.examples} examples, ${summary.bytesPerToken?.toFixed(1)} B/token`);
 * ```
 */
export function inspectStore(store: Pick<DistributionStore, 'dir' | 'manifest'>): StoreSummary {
  const m = store.manifest;
  const bytes = m.shards.reduce((sum, shard) => sum + shard.bytes + shard.indexBytes, 0);
  return {
    dir: store.dir,
    formatVersion: m.formatVersion,
    complete: m.complete,
    model: m.identity.model.name,
    modelConfigHash: m.identity.model.configHash,
    tokenizerHash: m.identity.tokenizer.hash,
    vocabSize: m.vocabSize,
    dataHash: m.identity.data.hash,
    chatTemplateHash: m.identity.chatTemplateHash,
    aligned: m.identity.aligned ?? null,
    k: m.k,
    valueEncoding: m.valueEncoding,
    compression: m.compression,
    hasNextTokenLogProbs: m.hasNextTokenLogProbs,
    examples: m.examples,
    tokens: m.tokens,
    supervisedTokens: m.supervisedTokens,
    shards: m.shards.length,
    bytes,
    bytesPerToken: m.tokens > 0 ? bytes / m.tokens : null,
    flaggedCount: m.flagged.length,
    flagged: m.flagged,
    contentHash: m.contentHash,
  };
}
