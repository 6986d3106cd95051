// Tiny real distribution stores for the tests, written with the store's own writer.
import { type CaptureRecord, createRandom } from '@fusechat/core';
import { createStoreWriter, type StoreIdentity, type StoreManifest } from '@fusechat/distribution-store';

export const VOCAB_SIZE = 5000;
export const K = 4;

export function identity(overrides: Partial<StoreIdentity> = {}): StoreIdentity {
  return {
    model: { name: 'tiny-pivot', configHash: 'c'.repeat(64) },
    tokenizer: { hash: 't'.repeat(64), vocabSize: VOCAB_SIZE },
    data: { hash: 'd'.repeat(64) },
    chatTemplateHash: null,
    capture: { k: K, maxLength: 64, truncation: 'keep-first', valueKind: 'logits' },
    ...overrides,
  };
}

/**
 * A pivot-like record: full rows of K entries, logits that are not fp16 values (so the store
 * rounds them), one example (index 3) with nothing supervised (CE NaN), lengths 1…40.
 */
export function pivotRecord(index: number, options: { nextTokenLogProbs?: boolean } = {}): CaptureRecord {
  const random = createRandom(7000 + index);
  const length = index === 0 ? 1 : 2 + random.int(39);
  const inputIds = Int32Array.from({ length }, () => random.int(VOCAB_SIZE));
  const labelMask = Uint8Array.from({ length }, (_, t) => (index !== 3 && t >= length / 3 ? 1 : 0));
  const ids = new Int32Array(length * K);
  const logits = new Float32Array(length * K);
  for (let t = 0; t < length; t++) {
    const used = new Set<number>();
    let value = 12 * random.normal();
    for (let slot = 0; slot < K; slot++) {
      let id = random.int(VOCAB_SIZE);
      while (used.has(id)) id = random.int(VOCAB_SIZE);
      used.add(id);
      ids[t * K + slot] = id;
      logits[t * K + slot] = value;
      value -= Math.abs(random.normal()) * 1.7;
    }
  }
  const nextTokenLogProbs = options.nextTokenLogProbs
    ? Float32Array.from({ length }, (_, t) => (t + 1 < length ? -3 * Math.abs(random.normal()) : Number.NaN))
    : undefined;
  return {
    id: `conversation-${index}`,
    inputIds,
    labelMask,
    topK: { length, k: K, ids, logits },
    ce: index === 3 ? Number.NaN : 0.5 + random.float() * 3,
    ...(nextTokenLogProbs ? { nextTokenLogProbs } : {}),
  };
}

/** The aligned source's record of a pivot record: pivot tokens, 0…K entries per row (empty rows too). */
export function alignedRecord(pivot: CaptureRecord, index: number): CaptureRecord {
  const random = createRandom(9000 + index);
  const { length } = pivot.topK;
  const ids = new Int32Array(length * K).fill(-1);
  const logits = new Float32Array(length * K).fill(Number.NEGATIVE_INFINITY);
  for (let t = 0; t < length; t++) {
    const count = random.int(K + 1);
    let value = 9 * random.normal();
    const used = new Set<number>();
    for (let slot = 0; slot < count; slot++) {
      let id = random.int(VOCAB_SIZE);
      while (used.has(id)) id = random.int(VOCAB_SIZE);
      used.add(id);
      ids[t * K + slot] = id;
      logits[t * K + slot] = value;
      value -= Math.abs(random.normal());
    }
  }
  return {
    id: pivot.id,
    inputIds: pivot.inputIds,
    labelMask: pivot.labelMask,
    topK: { length, k: K, ids, logits },
    ce: index === 5 ? Number.NaN : 1 + random.float() * 2,
  };
}

/** Writes a complete (or, with `finish: false`, incomplete) store of `records`. */
export async function writeStore(
  dir: string,
  records: readonly CaptureRecord[],
  options: {
    identity?: StoreIdentity;
    nextTokenLogProbs?: boolean;
    finish?: boolean;
    flagged?: string[];
  } = {},
): Promise<StoreManifest> {
  const writer = await createStoreWriter(dir, {
    identity: options.identity ?? identity(),
    k: K,
    nextTokenLogProbs: options.nextTokenLogProbs ?? false,
    blockExamples: 4,
    shardTargetBytes: 2048,
  });
  let cursor = 0;
  for (const record of records) await writer.append(record, { cursor: ++cursor });
  for (const id of options.flagged ?? []) await writer.flag(id, 'no source record', { cursor: ++cursor });
  if (options.finish === false) {
    await writer.abort();
    return writer.manifest;
  }
  return writer.finish();
}
