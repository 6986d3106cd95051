import { appendFileSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CaptureRecord } from '@fusechat/core';
import { afterAll, describe, expect, it } from 'vitest';
import { createSyntheticSource } from '../bench/synthetic.js';
import { createStoreWriter, type StoreWriterOptions } from './create-store-writer.js';
import { openStore } from './open-store.js';
import { computeContentHash } from './store-manifest.js';
import { testIdentity, testRecord } from './testing/fixtures.js';
import { referenceFloat16 } from './testing/reference-float16.js';

const root = mkdtempSync(join(tmpdir(), 'fusechat-store-reader-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let counter = 0;
const freshDir = () => join(root, `store-${counter++}`);

async function writeStore(records: CaptureRecord[], overrides: Partial<StoreWriterOptions> = {}) {
  const dir = freshDir();
  const writer = await createStoreWriter(dir, {
    identity: testIdentity({}, overrides.identity?.tokenizer.vocabSize ?? 1000),
    k: 4,
    nextTokenLogProbs: true,
    blockExamples: 4,
    shardTargetBytes: 800,
    ...overrides,
  });
  for (const [index, record] of records.entries()) await writer.append(record, { cursor: index + 1 });
  await writer.finish();
  return dir;
}

async function failure(
  promise: Promise<unknown>,
): Promise<Error & { code?: string; path?: string; details?: Record<string, unknown> }> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}

/** What the store must return: ids/mask/tokens as given, values rounded to fp16 by the reference. */
function expectExact(actual: CaptureRecord, expected: CaptureRecord, k: number) {
  expect(actual.id).toBe(expected.id);
  expect(actual.inputIds).toEqual(expected.inputIds);
  expect(actual.labelMask).toEqual(expected.labelMask);
  expect(actual.ce).toBe(expected.ce);
  expect(actual.topK.k).toBe(k);
  expect(actual.topK.length).toBe(expected.topK.length);
  for (let t = 0; t < expected.topK.length; t++) {
    const wantIds: number[] = [];
    const wantValues: number[] = [];
    for (let slot = 0; slot < expected.topK.k; slot++) {
      const id = expected.topK.ids[t * expected.topK.k + slot]!;
      if (id < 0) continue;
      wantIds.push(id);
      wantValues.push(referenceFloat16(expected.topK.logits[t * expected.topK.k + slot]!));
    }
    const row = Array.from(actual.topK.ids.subarray(t * k, (t + 1) * k));
    expect(row).toEqual([...wantIds, ...new Array(k - wantIds.length).fill(-1)]);
    const values = Array.from(actual.topK.logits.subarray(t * k, (t + 1) * k));
    expect(values).toEqual([
      ...wantValues,
      ...new Array(k - wantValues.length).fill(Number.NEGATIVE_INFINITY),
    ]);
  }
  if (expected.nextTokenLogProbs)
    expect(Array.from(actual.nextTokenLogProbs!)).toEqual(
      Array.from(expected.nextTokenLogProbs, referenceFloat16),
    );
  else expect(actual.nextTokenLogProbs).toBeUndefined();
}

const records = Array.from({ length: 25 }, (_, i) => testRecord(i, { nextTokenLogProbs: true }));

describe('openStore', () => {
  for (const compression of ['brotli', 'deflate', 'none'] as const) {
    it(`round-trips exactly (fp16 bit for bit against an independent rounding), ${compression}`, async () => {
      const dir = await writeStore(records, { compression });
      const store = await openStore(dir, { requireComplete: true });
      expect(store.size).toBe(25);
      let index = 0;
      for await (const record of store) expectExact(record, records[index++]!, 4);
      expect(index).toBe(25);
      // Random access by index and id, in any order.
      for (const at of [24, 0, 13, 7, 7, 21]) expectExact(await store.get(at), records[at]!, 4);
      expectExact((await store.getById('example-17'))!, records[17]!, 4);
      expect(await store.getById('example-99')).toBeUndefined();
      // Ranges cross shard and block boundaries.
      const range = [];
      for await (const record of store.records({ start: 5, end: 19 })) range.push(record.id);
      expect(range).toEqual(records.slice(5, 19).map((r) => r.id));
      expect(await store.verify()).toEqual({ ok: true, problems: [] });
      expect(store.manifest.shards.length).toBeGreaterThan(1);
      await store.close();
      expect((await failure(store.get(0))).code).toBe('STORE_CLOSED');
    });
  }

  it('stores rows with variable entry counts (aligned stores), including empty rows', async () => {
    const variable = Array.from({ length: 12 }, (_, i) => testRecord(i, { k: 6, variableCounts: true }));
    const identity = testIdentity({
      aligned: {
        pivotStore: 'p'.repeat(64),
        sourceStore: 's'.repeat(64),
        vocabularyMapHash: 'm'.repeat(64),
        mapping: 'exact',
      },
    });
    const dir = await writeStore(variable, { k: 6, nextTokenLogProbs: false, identity });
    const store = await openStore(dir, { expect: { aligned: { pivotStore: 'p'.repeat(64) } } });
    let index = 0;
    for await (const record of store) expectExact(record, variable[index++]!, 6);
    expect(variable.some((r) => r.topK.ids.some((id, at) => id === -1 && at % 6 === 0))).toBe(true);
    const error = await failure(openStore(dir, { expect: { aligned: { pivotStore: 'q'.repeat(64) } } }));
    expect(error.code).toBe('STORE_IDENTITY_MISMATCH');
    expect(error.message).toMatch(/aligned\.pivotStore/);
    await store.close();
  });

  it('keeps a row narrower than its SparseDistributions (k of the record < store k) and compacts empty slots', async () => {
    const record = testRecord(0, { k: 2, length: 5 });
    const ids = record.topK.ids.slice();
    const logits = record.topK.logits.slice();
    // An empty slot before a filled one: the store keeps the entries in order, empties last.
    ids[2] = -1;
    const dir = await writeStore([{ ...record, topK: { ...record.topK, ids, logits } }], {
      k: 3,
      nextTokenLogProbs: false,
    });
    const store = await openStore(dir);
    const back = await store.get(0);
    expect(Array.from(back.topK.ids.subarray(3, 6))).toEqual([ids[3], -1, -1]);
    expect(back.topK.logits[3]).toBe(referenceFloat16(logits[3]!));
    await store.close();
  });

  it('round-trips a 151k vocabulary with k = 10 (ids up to 151935, 18-bit packing)', async () => {
    const source = createSyntheticSource({
      vocabSize: 151_936,
      k: 10,
      meanLength: 60,
      nextTokenLogProbs: true,
    });
    const big = Array.from({ length: 6 }, (_, i) => source.record(i));
    const high = big.flatMap((r) => Array.from(r.topK.ids)).reduce((a, b) => Math.max(a, b), 0);
    expect(high).toBeGreaterThan(131_072);
    for (const compression of ['brotli', 'none'] as const) {
      const dir = await writeStore(big, { k: 10, compression, identity: testIdentity({}, 151_936) });
      const store = await openStore(dir);
      expect(store.manifest.idBits).toBe(18);
      let index = 0;
      for await (const record of store) expectExact(record, big[index++]!, 10);
      await store.close();
    }
  });

  it('quantized values stay within half a grid step of the fp16 row head', async () => {
    const step = 1 / 8;
    const dir = await writeStore(records, { valueEncoding: 'quantized', quantizationStep: step });
    const store = await openStore(dir);
    expect(store.manifest).toMatchObject({ valueEncoding: 'quantized', quantizationStep: step });
    let index = 0;
    for await (const record of store) {
      const original = records[index++]!;
      expect(record.inputIds).toEqual(original.inputIds);
      expect(record.topK.ids).toEqual(original.topK.ids);
      for (let t = 0; t < original.topK.length; t++) {
        const head = referenceFloat16(original.topK.logits[t * 4]!);
        expect(record.topK.logits[t * 4]).toBe(head);
        for (let slot = 1; slot < 4; slot++) {
          const gap = head - original.topK.logits[t * 4 + slot]!;
          const decoded = record.topK.logits[t * 4 + slot]!;
          expect(Math.abs(head - decoded - gap)).toBeLessThanOrEqual(step / 2 + 1e-5);
        }
      }
    }
    await store.close();
  });

  it('refuses before any work: missing store, malformed manifest, newer format, identity, incomplete', async () => {
    expect((await failure(openStore(freshDir()))).code).toBe('STORE_NOT_FOUND');
    const dir = await writeStore(records.slice(0, 3));
    const path = join(dir, 'manifest.json');
    const original = readFileSync(path, 'utf8');
    writeFileSync(path, original.slice(0, 100));
    const malformed = await failure(openStore(dir));
    expect(malformed.code).toBe('STORE_MANIFEST_MALFORMED');
    expect(malformed.path).toBe(path);
    const manifest = JSON.parse(original);
    writeFileSync(path, JSON.stringify({ ...manifest, formatVersion: 2 }));
    const newer = await failure(openStore(dir));
    expect(newer.code).toBe('STORE_FORMAT_TOO_NEW');
    expect(newer.message).toMatch(/version 2 is newer than this reader's 1; upgrade/);
    writeFileSync(path, JSON.stringify({ ...manifest, k: 'ten' }));
    expect((await failure(openStore(dir))).message).toMatch(/field "k"/);
    writeFileSync(path, JSON.stringify({ ...manifest, examples: 4 }));
    expect((await failure(openStore(dir))).code).toBe('STORE_MANIFEST_MALFORMED');
    const edited = { ...manifest, identity: { ...manifest.identity, data: { hash: 'x' } } };
    writeFileSync(path, JSON.stringify(edited));
    expect((await failure(openStore(dir))).message).toMatch(/contentHash/);
    writeFileSync(path, original);
    const mismatch = await failure(
      openStore(dir, {
        expect: {
          model: { configHash: 'other' },
          tokenizer: { hash: 't'.repeat(64) },
          chatTemplateHash: 'abc',
        },
      }),
    );
    expect(mismatch.code).toBe('STORE_IDENTITY_MISMATCH');
    expect(mismatch.details?.fields).toEqual(['chatTemplateHash', 'model.configHash']);
  });

  it('refuses an incomplete store when asked to', async () => {
    const dir = freshDir();
    const writer = await createStoreWriter(dir, { identity: testIdentity(), k: 4, nextTokenLogProbs: false });
    await writer.append(testRecord(0), { cursor: 1 });
    expect((await failure(openStore(dir, { requireComplete: true }))).code).toBe('STORE_INCOMPLETE');
    const partial = await openStore(dir);
    expect(partial.size).toBe(0);
    await partial.close();
  });

  it('detects a truncated shard at open and a corrupted one in verify() and on read', async () => {
    const dir = await writeStore(records);
    const store = await openStore(dir);
    const shard = store.manifest.shards[1]!;
    await store.close();
    const shardPath = join(dir, shard.file);
    const bytes = readFileSync(shardPath);
    truncateSync(shardPath, shard.bytes - 10);
    const truncated = await failure(openStore(dir));
    expect(truncated.code).toBe('STORE_SHARD_TRUNCATED');
    expect(truncated.message).toContain(shard.file);
    appendFileSync(shardPath, Buffer.alloc(20));
    expect((await failure(openStore(dir))).message).toMatch(/corrupt/);
    // Same size, one flipped byte inside a block: verify() names the file; reading fails or differs.
    const corrupted = Buffer.from(bytes);
    corrupted[shard.bytes - 5]! ^= 0xff;
    writeFileSync(shardPath, corrupted);
    const reopened = await openStore(dir);
    const report = await reopened.verify();
    expect(report.ok).toBe(false);
    expect(report.problems).toHaveLength(1);
    expect(report.problems[0]).toMatch(new RegExp(`${shard.file}: sha256`));
    const lastOfShard = shard.firstExample + shard.examples - 1;
    const read = await reopened.get(lastOfShard).then(
      (record) => record,
      (error: { code: string }) => error,
    );
    if ('code' in read) expect(read.code).toBe('STORE_BLOCK_CORRUPT');
    else expect(read).not.toEqual(await (await openStore(await writeStore(records))).get(lastOfShard));
    await reopened.close();
    // A damaged index file is named too.
    writeFileSync(shardPath, bytes);
    writeFileSync(join(dir, shard.indexFile), Buffer.alloc(shard.indexBytes));
    const withBadIndex = await openStore(dir);
    expect((await failure(withBadIndex.get(shard.firstExample))).code).toBe('STORE_INDEX_MALFORMED');
    expect((await withBadIndex.verify()).problems[0]).toMatch(shard.indexFile);
    await withBadIndex.close();
  });

  it('the content hash covers identity and shard hashes but not the cursor', async () => {
    const dir = await writeStore(records.slice(0, 5));
    const store = await openStore(dir);
    const { manifest } = store;
    expect(computeContentHash({ ...manifest, cursor: 999 })).toBe(manifest.contentHash);
    expect(
      computeContentHash({ ...manifest, shards: [{ ...manifest.shards[0]!, sha256: '0'.repeat(64) }] }),
    ).not.toBe(manifest.contentHash);
    await store.close();
  });

  it('rejects out-of-range indices and ranges', async () => {
    const dir = await writeStore(records.slice(0, 3));
    const store = await openStore(dir);
    expect((await failure(store.get(3))).code).toBe('STORE_INDEX_OUT_OF_RANGE');
    expect(() => store.records({ start: 2, end: 5 })).toThrow(/range/);
    await store.close();
  });
});

describe('openStore block cache', () => {
  it('random access across blocks decodes each block once while it fits the cache, again when it does not', async () => {
    const records = Array.from({ length: 12 }, (_, index) => testRecord(index, { nextTokenLogProbs: true }));
    const dir = await writeStore(records);
    const cached = await openStore(dir);
    const uncached = await openStore(dir, { blockCacheBytes: 0 });
    try {
      // Blocks of 4 examples: 0 and 8 are in different blocks. A record decoded from a cached
      // block is the same object when read again; a block decoded anew gives a new one.
      const [first, other] = [await cached.get(0), await cached.get(8)];
      expect(await cached.get(0)).toBe(first);
      expect(await cached.get(8)).toBe(other);
      const firstUncached = await uncached.get(0);
      await uncached.get(8);
      const again = await uncached.get(0);
      expect(again).not.toBe(firstUncached);
      expectExact(again, records[0]!, 4);
    } finally {
      await Promise.all([cached.close(), uncached.close()]);
    }
    await expect(openStore(dir, { blockCacheBytes: -1 })).rejects.toThrow(/blockCacheBytes/);
  });
});
