import { join } from 'node:path';
import { type CaptureRecord, EMPTY_SLOT, isFuseChatError } from '@fusechat/core';
import { alignedStoreIdentity } from '@fusechat/distribution-capture';
import { createStoreWriter, openStore } from '@fusechat/distribution-store';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AlignmentRecord } from '../results/pipeline-results.js';
import { buildAlignmentRecord } from './build-alignment-record.js';
import { type AlignmentFixture, createAlignmentFixture, FIXTURE_TEXTS } from './testing/alignment-fixture.js';

const rowOf = (record: CaptureRecord, position: number) => {
  const { k, ids, logits } = record.topK;
  const entries: { id: number; logit: number }[] = [];
  for (let slot = 0; slot < k; slot++) {
    const id = ids[position * k + slot]!;
    if (id !== EMPTY_SLOT) entries.push({ id, logit: logits[position * k + slot]! });
  }
  return entries;
};

async function readAll(path: string): Promise<Map<string, CaptureRecord>> {
  const store = await openStore(path);
  try {
    const records = new Map<string, CaptureRecord>();
    for await (const record of store) records.set(record.id, record);
    return records;
  } finally {
    await store.close();
  }
}

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
  } catch (error) {
    return isFuseChatError(error) ? error.code : String(error);
  }
  return undefined;
}

describe('buildAlignmentRecord', () => {
  let fixture: AlignmentFixture;
  let record: AlignmentRecord;
  const options = () => ({
    source: 'llama',
    pivotStorePath: fixture.pivotStorePath,
    sourceStorePath: fixture.sourceStorePath,
    alignedStorePath: fixture.alignedStorePath,
    vocabularyMapPath: fixture.vocabularyMapPath,
    pivotTokenizer: fixture.pivotTokenizer,
    sourceTokenizer: fixture.sourceTokenizer,
  });

  beforeAll(async () => {
    fixture = await createAlignmentFixture();
    record = await buildAlignmentRecord({ ...options(), mapping: 'exact', samples: FIXTURE_TEXTS.length });
  });
  afterAll(() => fixture?.cleanup());

  it('counts every pivot position of the aligned store once, split as alignStore counted its origins', async () => {
    const aligned = await readAll(fixture.alignedStorePath);
    const positions = [...aligned.values()].reduce((sum, example) => sum + example.inputIds.length, 0);
    const { ruleCounts } = record;
    expect(
      ruleCounts['one-to-one'] +
        ruleCounts['many-to-one'] +
        ruleCounts['one-hot'] +
        ruleCounts['pivot-fallback'],
    ).toBe(positions);
    const { origins } = fixture.summary;
    expect((ruleCounts['one-to-one'] + ruleCounts['many-to-one']) / positions).toBeCloseTo(
      origins.mapped,
      12,
    );
    expect(ruleCounts['one-hot'] / positions).toBeCloseTo(origins.oneHot, 12);
    expect(ruleCounts['pivot-fallback'] / positions).toBeCloseTo(origins.pivot, 12);
    // The fixture exercises every rule (emoji bytes and quotes split differently in the two vocabularies).
    for (const count of Object.values(ruleCounts)) expect(count).toBeGreaterThan(0);
    expect(record.source).toBe('llama');
    expect(record.mapping).toBe('exact');
  });

  it('each sample position shows the rule of the row alignStore actually wrote', async () => {
    const [aligned, pivot, source] = await Promise.all([
      readAll(fixture.alignedStorePath),
      readAll(fixture.pivotStorePath),
      readAll(fixture.sourceStorePath),
    ]);
    const map = fixture.map.sourceToPivot;
    expect(record.samples.map((sample) => sample.id)).toEqual(['e0', 'e1', 'e2', 'e3']);
    for (const sample of record.samples) {
      const stored = aligned.get(sample.id)!;
      const pivotRecord = pivot.get(sample.id)!;
      const sourceRecord = source.get(sample.id)!;
      expect(sample.pivotTokens).toEqual(
        [...pivotRecord.inputIds].map((id) => fixture.pivotTokenizer.idToToken(id)),
      );
      expect(sample.sourceTokens).toEqual(
        [...sourceRecord.inputIds].map((id) => fixture.sourceTokenizer.idToToken(id)),
      );
      expect(sample.positions).toHaveLength(pivotRecord.inputIds.length);
      sample.positions.forEach((position, i) => {
        const row = rowOf(stored, i);
        // Mapping a source row as DESIGN §3 says: ids through the map, first entry per pivot id.
        const mapped = (sourcePosition: number) => {
          const seen = new Set<number>();
          return rowOf(sourceRecord, sourcePosition)
            .map((entry) => ({ id: map[entry.id]!, logit: entry.logit }))
            .filter((entry) => !seen.has(entry.id) && seen.add(entry.id) !== undefined);
        };
        switch (position.rule) {
          case 'one-hot':
            expect(row).toEqual([{ id: pivotRecord.inputIds[i + 1], logit: 1 }]);
            break;
          case 'pivot-fallback':
            expect(row).toEqual(rowOf(pivotRecord, i));
            break;
          case 'one-to-one':
            expect(position.sourcePositions).toHaveLength(1);
            expect(row).toEqual(mapped(position.sourcePositions[0]!));
            break;
          case 'many-to-one':
            expect(position.sourcePositions.length).toBeGreaterThan(1);
            expect(position.sourcePositions.map(mapped)).toContainEqual(row);
            break;
        }
        // Top entries: float64 softmax over the stored row's kept entries, most probable first.
        const max = Math.max(...row.map((entry) => entry.logit));
        const total = row.reduce((sum, entry) => sum + Math.exp(entry.logit - max), 0);
        const expected = row
          .map((entry) => ({
            token: fixture.pivotTokenizer.idToToken(entry.id),
            probability: Math.exp(entry.logit - max) / total,
          }))
          .sort((a, b) => b.probability - a.probability)
          .slice(0, 5);
        expect(position.top).toEqual(expected);
      });
      // DTW alignments are monotone and cover every source position.
      const flat = sample.positions.flatMap((position) => position.sourcePositions);
      expect(new Set(flat)).toEqual(new Set(sample.sourceTokens.map((_, j) => j)));
    }
  });

  it('keeps only maxPositions pivot positions per sample and the source tokens they reach', async () => {
    const short = await buildAlignmentRecord({ ...options(), samples: 1, maxPositions: 6, topEntries: 2 });
    const [sample] = short.samples;
    expect(short.samples).toHaveLength(1);
    expect(sample!.pivotTokens).toEqual(record.samples[0]!.pivotTokens.slice(0, 6));
    const reached = Math.max(...sample!.positions.flatMap((position) => position.sourcePositions));
    expect(sample!.sourceTokens).toEqual(record.samples[0]!.sourceTokens.slice(0, reached + 1));
    expect(sample!.positions.every((position) => position.top.length <= 2)).toBe(true);
    expect(short.ruleCounts).toEqual(record.ruleCounts);
    expect(short.mapping).toBe('exact');
  });

  it('refuses stores, maps and tokenizers the aligned store was not made from', async () => {
    expect(
      await codeOf(
        buildAlignmentRecord({
          ...options(),
          pivotStorePath: fixture.sourceStorePath,
          sourceStorePath: fixture.pivotStorePath,
        }),
      ),
    ).toBe('REPORT_ALIGNMENT_INPUT_MISMATCH');
    expect(
      await codeOf(buildAlignmentRecord({ ...options(), alignedStorePath: fixture.pivotStorePath })),
    ).toBe('REPORT_ALIGNMENT_INPUT_MISMATCH');
    expect(
      await codeOf(
        buildAlignmentRecord({
          ...options(),
          pivotTokenizer: fixture.sourceTokenizer,
          sourceTokenizer: fixture.pivotTokenizer,
        }),
      ),
    ).toBe('VOCAB_MAP_HASH_MISMATCH');
    expect(
      await codeOf(
        buildAlignmentRecord({ ...options(), vocabularyMapPath: join(fixture.root, 'nope.json') }),
      ),
    ).toBe('REPORT_VOCABULARY_MAP_UNREADABLE');
    expect(await codeOf(buildAlignmentRecord({ ...options(), samples: -1 }))).toBe('REPORT_INVALID_OPTION');
  });

  it('refuses an aligned store whose rows re-indexing does not reproduce', async () => {
    // Same identity as the real aligned store, but every row is the pivot's own.
    const [pivot, source] = await Promise.all([
      openStore(fixture.pivotStorePath),
      openStore(fixture.sourceStorePath),
    ]);
    const forged = join(fixture.root, 'forged');
    try {
      const writer = await createStoreWriter(forged, {
        identity: alignedStoreIdentity(pivot.manifest, source.manifest, fixture.map),
        k: pivot.manifest.k,
        nextTokenLogProbs: false,
      });
      let cursor = 0;
      for await (const pivotRecord of pivot) await writer.append(pivotRecord, { cursor: ++cursor });
      await writer.finish();
    } finally {
      await Promise.all([pivot.close(), source.close()]);
    }
    expect(await codeOf(buildAlignmentRecord({ ...options(), alignedStorePath: forged }))).toBe(
      'REPORT_ALIGNMENT_DISAGREES',
    );
  });
});
