import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CaptureRecord, isFuseChatError, type TokenizerLike } from '@fusechat/core';
import { fusionLoss } from '@fusechat/distillation-loss';
import {
  createStoreWriter,
  type DistributionStore,
  openStore,
  type StoreIdentity,
} from '@fusechat/distribution-store';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../testing/test-backends.js';
import type { TrainingBatch } from '../training-batch.js';
import { createFusionDataset, type FusionDatasetOptions } from './create-fusion-dataset.js';

const K = 3;
const VOCAB = 20;
const LENGTHS = [5, 9, 3, 8, 6, 4, 9];

function fakeTokenizer(hash: string): TokenizerLike {
  return {
    hash,
    vocabSize: VOCAB,
    specialTokens: { pad: 0, eos: 1 },
    spaceMarker: 'sentencepiece',
    encode: () => [],
    decode: () => '',
    idToToken: () => undefined,
    tokenToId: () => undefined,
  };
}

/** Deterministic records; logits are multiples of 1/4 (exact in fp16), rows may be empty or hold duplicates. */
function makeRecords(
  seed: number,
  options: { emptyRows?: boolean; inputIds?: Int32Array[] } = {},
): CaptureRecord[] {
  let state = seed;
  const random = () => {
    state = (state * 1103515245 + 12345) & 0x7fffffff;
    return state / 0x80000000;
  };
  return LENGTHS.map((length, index) => {
    const inputIds =
      options.inputIds?.[index] ?? Int32Array.from({ length }, () => 2 + Math.floor(random() * (VOCAB - 2)));
    const ids = new Int32Array(length * K).fill(-1);
    const logits = new Float32Array(length * K).fill(Number.NEGATIVE_INFINITY);
    for (let t = 0; t < length; t++) {
      const count = options.emptyRows && random() < 0.3 ? 0 : 1 + Math.floor(random() * K);
      let value = 2 + Math.round(random() * 8) / 4;
      for (let slot = 0; slot < count; slot++) {
        ids[t * K + slot] = slot === 2 && random() < 0.3 ? ids[t * K]! : Math.floor(random() * VOCAB);
        logits[t * K + slot] = value;
        value -= 0.25 + Math.round(random() * 8) / 4;
      }
    }
    const labelMask = new Uint8Array(length);
    for (let t = Math.floor(length / 2); t < length; t++) labelMask[t] = 1;
    return {
      id: `e${index}`,
      inputIds,
      labelMask,
      topK: { length, k: K, ids, logits },
      ce: 0.5 + Math.round(random() * 12) / 4,
    };
  });
}

const identity = (tokenizer: string, name: string, aligned?: StoreIdentity['aligned']): StoreIdentity => ({
  model: { name, configHash: `${name}-config` },
  tokenizer: { hash: tokenizer, vocabSize: VOCAB },
  data: { hash: 'data-hash' },
  chatTemplateHash: null,
  capture: { k: K },
  ...(aligned === undefined ? {} : { aligned }),
});

async function writeStore(dir: string, id: StoreIdentity, list: readonly CaptureRecord[], complete = true) {
  const writer = await createStoreWriter(dir, {
    identity: id,
    k: K,
    nextTokenLogProbs: false,
    blockExamples: 2,
  });
  for (const [index, record] of list.entries()) await writer.append(record, { cursor: index + 1 });
  if (complete) return writer.finish();
  await writer.abort();
  return writer.manifest;
}

async function readAll(dir: string): Promise<CaptureRecord[]> {
  const store = await openStore(dir);
  const list: CaptureRecord[] = [];
  for await (const record of store) list.push(record);
  await store.close();
  return list;
}

// ---- Independent float64 reference, from DESIGN.md §3 and FuseChat's collator (not from the package) ----

/** `softmax(z / T)` over a row's kept entries (id ≠ −1, first occurrence). */
function tempered(record: CaptureRecord, t: number, temperature: number): Map<number, number> {
  const kept = new Map<number, number>();
  for (let slot = 0; slot < K; slot++) {
    const id = record.topK.ids[t * K + slot]!;
    if (id !== -1 && !kept.has(id)) kept.set(id, record.topK.logits[t * K + slot]! / temperature);
  }
  let total = 0;
  for (const value of kept.values()) total += Math.exp(value);
  return new Map([...kept].map(([id, value]) => [id, Math.exp(value) / total]));
}

function referenceTarget(
  pivot: CaptureRecord,
  sources: CaptureRecord[],
  t: number,
  fusion: 'min_ce' | 'avg_ce',
  temperature: number,
): Map<number, number> {
  const teachers = [pivot, ...sources];
  const pivotQ = tempered(pivot, t, temperature);
  const rowOf = (teacher: CaptureRecord) => {
    const q = tempered(teacher, t, temperature);
    return q.size > 0 ? q : pivotQ; // an empty row takes the pivot's
  };
  const ce = (teacher: CaptureRecord) => (Number.isNaN(teacher.ce) ? Number.POSITIVE_INFINITY : teacher.ce);
  if (fusion === 'min_ce') {
    let winner = 0;
    teachers.forEach((teacher, index) => {
      if (ce(teacher) < ce(teachers[winner]!)) winner = index;
    });
    return rowOf(teachers[winner]!);
  }
  const raw = teachers.map((teacher) => Math.exp(-ce(teacher)));
  const total = raw.reduce((a, b) => a + b, 0);
  const mixture = new Map<number, number>();
  teachers.forEach((teacher, index) => {
    for (const [id, p] of rowOf(teacher)) mixture.set(id, (mixture.get(id) ?? 0) + (raw[index]! / total) * p);
  });
  return mixture;
}

/** The distribution the loss sees at row (b, t): softmax at T = 1 over the kept slots. */
function packedRow(batch: TrainingBatch, b: number, t: number): Map<number, number> {
  const [, time, k] = batch.targets!.shape;
  const base = (b * time + t) * k;
  const kept = new Map<number, number>();
  for (let slot = 0; slot < k; slot++) {
    const id = batch.targets!.ids[base + slot]!;
    if (id !== -1 && !kept.has(id)) kept.set(id, batch.targets!.logits[base + slot]!);
  }
  const max = Math.max(...kept.values());
  let total = 0;
  for (const value of kept.values()) total += Math.exp(value - max);
  return new Map([...kept].map(([id, value]) => [id, Math.exp(value - max) / total]));
}

describe('createFusionDataset', () => {
  let root: string;
  let pivotRecords: CaptureRecord[];
  let sourceA: CaptureRecord[];
  let sourceB: CaptureRecord[];
  let pivotHash: string;
  const dir = (name: string) => join(root, name);
  const open = (...names: string[]) => Promise.all(names.map((name) => openStore(dir(name))));

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'fusechat-fusion-dataset-'));
    const pivot = makeRecords(1);
    pivotHash = (await writeStore(dir('pivot'), identity('tok', 'pivot'), pivot)).contentHash;
    const inputIds = pivot.map((record) => record.inputIds);
    const aligned = (source: string) => ({
      pivotStore: pivotHash,
      sourceStore: `${source}-hash`,
      vocabularyMapHash: 'map',
      mapping: 'exact',
    });
    // Source A lacks e2 (flagged at alignment) and has empty rows; source B has everything.
    await writeStore(
      dir('a'),
      identity('tok', 'a', aligned('a')),
      makeRecords(2, { emptyRows: true, inputIds }).filter((record) => record.id !== 'e2'),
    );
    await writeStore(
      dir('b'),
      identity('tok', 'b', aligned('b')),
      makeRecords(3, { emptyRows: true, inputIds }),
    );
    await writeStore(
      dir('other-pivot'),
      identity('tok', 'a', { ...aligned('a'), pivotStore: 'f'.repeat(64) }),
      makeRecords(2, { inputIds }),
    );
    await writeStore(
      dir('other-tokenizer'),
      identity('tok2', 'a', aligned('a')),
      makeRecords(2, { inputIds }),
    );
    await writeStore(dir('capture'), identity('tok', 'a'), makeRecords(2, { inputIds }));
    await writeStore(dir('partial'), identity('tok', 'a', aligned('a')), makeRecords(2, { inputIds }), false);
    [pivotRecords, sourceA, sourceB] = await Promise.all([
      readAll(dir('pivot')),
      readAll(dir('a')),
      readAll(dir('b')),
    ]);
  }, 60_000);

  afterAll(() => {
    if (root) rmSync(root, { recursive: true, force: true });
  });

  const dataset = async (options: Partial<FusionDatasetOptions> = {}, sources = ['a', 'b']) => {
    const [pivot, ...rest] = await open('pivot', ...sources);
    return createFusionDataset({
      pivot: pivot!,
      sources: rest,
      tokenizer: fakeTokenizer('tok'),
      batchSize: 3,
      ...options,
    });
  };

  const epoch = async (data: Awaited<ReturnType<typeof dataset>>, number: number, seed: number) => {
    const batches: TrainingBatch[] = [];
    for (let index = 0; index < data.batchesPerEpoch; index++)
      batches.push(await data.batch(number, index, seed));
    return batches;
  };

  for (const [fusion, temperature] of [
    ['min_ce', 1],
    ['min_ce', 2],
    ['avg_ce', 1],
    ['avg_ce', 0.5],
  ] as const) {
    it(`targets equal a float64 computation (${fusion}, T = ${temperature}); tokens, labels and padding`, async () => {
      const data = await dataset({ fusion, temperature });
      try {
        expect(data.examples).toBe(LENGTHS.length);
        expect(data.hasTargets).toBe(true);
        const seen: string[] = [];
        for (const batch of await epoch(data, 0, 7)) {
          const time = batch.inputIds[0]!.length;
          expect(batch.paddedTokens).toBe(batch.exampleIds.length * time);
          let tokens = 0;
          let supervised = 0;
          batch.exampleIds.forEach((id, b) => {
            seen.push(id);
            const pivot = pivotRecords.find((record) => record.id === id)!;
            const sources = [sourceA, sourceB].flatMap((list) => list.filter((record) => record.id === id));
            const length = pivot.inputIds.length;
            tokens += length;
            for (let t = 0; t < time; t++) {
              const real = t < length;
              expect(batch.attentionMask[b]![t]).toBe(real ? 1 : 0);
              expect(batch.inputIds[b]![t]).toBe(real ? pivot.inputIds[t] : 0);
              expect(batch.labels[b]![t]).toBe(real && pivot.labelMask[t] === 1 ? pivot.inputIds[t] : -100);
              if (real && t > 0 && pivot.labelMask[t] === 1) supervised++;
              if (!real) {
                expect(packedRow(batch, b, t).size).toBe(0);
                continue;
              }
              const expected = referenceTarget(pivot, sources, t, fusion, temperature);
              const got = packedRow(batch, b, t);
              expect([...got.keys()].sort()).toEqual([...expected.keys()].sort());
              for (const [tokenId, p] of expected) expect(got.get(tokenId)).toBeCloseTo(p, 6);
            }
          });
          expect(batch.tokens).toBe(tokens);
          expect(batch.supervisedPositions).toBe(supervised);
        }
        expect(seen.sort()).toEqual(pivotRecords.map((record) => record.id).sort());
      } finally {
        await data.close?.();
      }
    });
  }

  it('the loss at T = 1 on a batch equals FuseChat’s soft-target CE against the tempered teachers (float64)', async () => {
    await useBackend('cpu');
    const data = await dataset({ fusion: 'avg_ce', temperature: 2 });
    try {
      const batch = await data.batch(0, 1, 9);
      const [rows, time, k] = batch.targets!.shape;
      let state = 5;
      const random = () => {
        state = (state * 1103515245 + 12345) & 0x7fffffff;
        return state / 0x80000000;
      };
      const student = Array.from({ length: rows }, () =>
        Array.from({ length: time }, () => Array.from({ length: VOCAB }, () => 4 * random() - 2)),
      );
      // Reference: mean over positions whose next label is supervised of
      // logsumexp(z) − Σ_v q(v) z_v, with q the FuseChat target built from the raw records.
      let total = 0;
      let count = 0;
      batch.exampleIds.forEach((id, b) => {
        const pivot = pivotRecords.find((record) => record.id === id)!;
        const sources = [sourceA, sourceB].flatMap((list) => list.filter((record) => record.id === id));
        for (let t = 0; t + 1 < time; t++) {
          if (batch.labels[b]![t + 1] === -100) continue;
          const z = student[b]![t]!;
          const max = Math.max(...z);
          let term = max + Math.log(z.reduce((sum, value) => sum + Math.exp(value - max), 0));
          for (const [tokenId, p] of referenceTarget(pivot, sources, t, 'avg_ce', 2)) term -= p * z[tokenId]!;
          total += term;
          count++;
        }
      });
      expect(count).toBeGreaterThan(0);
      expect(count).toBe(batch.supervisedPositions);
      const mask = batch.labels.map((row) => row.map((label) => (label === -100 ? 0 : 1)));
      const [logits, ids, targetLogits] = [
        tf.tensor3d(student),
        tf.tensor3d(batch.targets!.ids, [rows, time, k], 'int32'),
        tf.tensor3d(batch.targets!.logits, [rows, time, k]),
      ];
      try {
        const loss = fusionLoss(logits, ids, targetLogits, mask, { temperature: 1 });
        expect((await loss.data())[0]).toBeCloseTo(total / count, 5);
        loss.dispose();
      } finally {
        tf.dispose([logits, ids, targetLogits]);
      }
    } finally {
      await data.close?.();
    }
  });

  it('a temperature changes avg_ce targets the way FuseChat orders it, not by tempering the mixture', async () => {
    const plain = await dataset({ fusion: 'avg_ce' });
    const hot = await dataset({ fusion: 'avg_ce', temperature: 2 });
    try {
      const [a, b] = [await plain.batch(0, 0, 1), await hot.batch(0, 0, 1)];
      // Tempering the T = 1 mixture (what the loss's temperature would do) is a different target.
      let differs = false;
      const [, time] = a.targets!.shape;
      for (let t = 0; t < time; t++) {
        const mixture = packedRow(a, 0, t);
        if (mixture.size < 2) continue;
        const logs = new Map([...mixture].map(([id, p]) => [id, Math.log(p) / 2]));
        const total = [...logs.values()].reduce((sum, value) => sum + Math.exp(value), 0);
        const got = packedRow(b, 0, t);
        for (const [id, value] of logs)
          differs ||= Math.abs(Math.exp(value) / total - (got.get(id) ?? 0)) > 1e-3;
      }
      expect(differs).toBe(true);
    } finally {
      await Promise.all([plain.close?.(), hot.close?.()]);
    }
  });

  it('is deterministic per (epoch, index, seed); epochs shuffle the batch order; every example once per epoch', async () => {
    const data = await dataset();
    const again = await dataset();
    try {
      const first = await epoch(data, 0, 42);
      expect(await epoch(again, 0, 42)).toEqual(first);
      expect(await data.batch(0, 1, 42)).toEqual(first[1]);
      const orders = new Set<string>();
      for (let number = 0; number < 6; number++) {
        const batches = await epoch(data, number, 42);
        expect(batches.flatMap((batch) => batch.exampleIds).sort()).toEqual(
          pivotRecords.map((r) => r.id).sort(),
        );
        orders.add(JSON.stringify(batches.map((batch) => batch.exampleIds)));
      }
      expect(orders.size).toBeGreaterThan(1);
      // Batches are length buckets: sorted lengths 3 4 5 | 6 8 9 | 9 with batchSize 3.
      expect(first.map((batch) => batch.exampleIds.length).sort()).toEqual([1, 3, 3]);
      expect(data.padding).toEqual({ tokens: 44, paddedTokens: 15 + 27 + 9, paddingWaste: (51 - 44) / 44 });
      expect(first.reduce((sum, batch) => sum + batch.paddedTokens, 0)).toBe(data.padding.paddedTokens);
      await expect(data.batch(0, data.batchesPerEpoch, 42)).rejects.toSatisfy((error: unknown) =>
        isFuseChatError(error, 'TRAIN_INVALID_OPTIONS'),
      );
    } finally {
      await Promise.all([data.close?.(), again.close?.()]);
    }
  });

  it('fingerprints the stores and the batching options', async () => {
    const prints = new Set<string>();
    for (const [options, sources] of [
      [{}, ['a', 'b']],
      [{}, ['a', 'b']],
      [{ batchSize: 2 }, ['a', 'b']],
      [{ fusion: 'avg_ce' }, ['a', 'b']],
      [{ temperature: 2 }, ['a', 'b']],
      [{ maxLength: 6 }, ['a', 'b']],
      [{}, ['a']],
    ] as const) {
      const data = await dataset(options, [...sources]);
      prints.add(data.fingerprint);
      await data.close?.();
    }
    expect(prints.size).toBe(6);
  });

  it('cuts examples at maxLength (tokens, labels and targets)', async () => {
    const data = await dataset({ maxLength: 6 });
    try {
      for (const batch of await epoch(data, 0, 3)) {
        expect(batch.inputIds[0]!.length).toBeLessThanOrEqual(6);
        expect(batch.targets!.shape[1]).toBe(batch.inputIds[0]!.length);
      }
      expect(data.padding.tokens).toBe(LENGTHS.reduce((sum, length) => sum + Math.min(length, 6), 0));
    } finally {
      await data.close?.();
    }
  });

  describe('refuses before the first batch', () => {
    const refused = async (code: string, build: () => Promise<unknown>) => {
      let thrown: unknown;
      try {
        await build();
      } catch (error) {
        thrown = error;
      }
      expect(isFuseChatError(thrown, code), String(thrown)).toBe(true);
    };
    const withStores = async (
      pivot: string,
      sources: string[],
      options: Partial<FusionDatasetOptions> = {},
    ) => {
      const [p, ...rest] = await open(pivot, ...sources);
      try {
        return await createFusionDataset({ pivot: p!, sources: rest, ...options });
      } finally {
        await Promise.all([p!, ...rest].map((store: DistributionStore) => store.close()));
      }
    };

    it('a source aligned onto another pivot store', () =>
      refused('TRAIN_PIVOT_MISMATCH', () => withStores('pivot', ['a', 'other-pivot'])));
    it('a source on another tokenizer', () =>
      refused('TRAIN_TOKENIZER_MISMATCH', () => withStores('pivot', ['other-tokenizer'])));
    it('a model tokenizer other than the pivot store’s', () =>
      refused('TRAIN_TOKENIZER_MISMATCH', () =>
        withStores('pivot', ['a'], { tokenizer: fakeTokenizer('tok2') }),
      ));
    it('an incomplete store', () =>
      refused('TRAIN_STORE_INCOMPLETE', () => withStores('pivot', ['a', 'partial'])));
    it('a capture store as a source', () =>
      refused('TRAIN_SOURCE_NOT_ALIGNED', () => withStores('pivot', ['capture'])));
    it('an aligned store as the pivot', () => refused('TRAIN_PIVOT_IS_ALIGNED', () => withStores('a', [])));
    it('an unknown fusion function or bad options', async () => {
      await refused('UNKNOWN_NAME', () => withStores('pivot', ['a'], { fusion: 'min-ce' }));
      await refused('TRAIN_INVALID_OPTIONS', () => withStores('pivot', ['a'], { temperature: 0 }));
      await refused('TRAIN_INVALID_OPTIONS', () => withStores('pivot', ['a'], { batchSize: 0 }));
    });
  });
});
