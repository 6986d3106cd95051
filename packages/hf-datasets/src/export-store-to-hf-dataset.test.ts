import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CaptureRecord } from '@fusechat/core';
import { openStore } from '@fusechat/distribution-store';
import { tableFromIPC } from 'apache-arrow';
import { afterAll, describe, expect, it } from 'vitest';
import { exportStoreToHfDataset } from './export-store-to-hf-dataset.js';
import { type ArrowStream, readArrowStream } from './testing/arrow-stream-reader.js';
import { alignedRecord, identity, pivotRecord, writeStore } from './testing/test-stores.js';

const root = mkdtempSync(join(tmpdir(), 'fusechat-hf-export-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let counter = 0;
const fresh = (name: string) => join(root, `${name}-${counter++}`);

const PIVOT_RECORDS = Array.from({ length: 23 }, (_, i) => pivotRecord(i));

/** fp16 rounding (nearest, ties to even) in float64 arithmetic, independent of the store's codec. */
function roundToFloat16(x: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  const magnitude = Math.abs(x);
  const exponent = Math.max(Math.floor(Math.log2(magnitude)), -14);
  const quantum = 2 ** (exponent - 10);
  const scaled = magnitude / quantum;
  let rounded = Math.floor(scaled);
  const rest = scaled - rounded;
  if (rest > 0.5 || (rest === 0.5 && rounded % 2 === 1)) rounded++;
  const value = rounded * quantum;
  return Math.sign(x) * (value > 65504 ? Number.POSITIVE_INFINITY : value);
}

/** Every exported row of a dataset directory, read with the spec reader, shard after shard. */
function readSplit(out: string): {
  state: Record<string, unknown>;
  streams: ArrowStream[];
  rows: Record<string, unknown>[];
} {
  const state = JSON.parse(readFileSync(join(out, 'train', 'state.json'), 'utf8')) as {
    _data_files: { filename: string }[];
  };
  const streams = state._data_files.map((file) =>
    readArrowStream(readFileSync(join(out, 'train', file.filename))),
  );
  const rows: Record<string, unknown>[] = [];
  for (const stream of streams) {
    for (const batch of stream.batches) {
      for (let i = 0; i < batch.length; i++) {
        const row: Record<string, unknown> = {};
        for (const [name, values] of batch.columns) row[name] = values[i];
        rows.push(row);
      }
    }
  }
  return { state, streams, rows };
}

/** A record's rows as FuseChat stores them: only the stored entries, best first. */
function rowsOf(record: CaptureRecord, of: 'ids' | 'logits'): number[][] {
  const { ids, logits, k, length } = record.topK;
  return Array.from({ length }, (_, t) => {
    const row: number[] = [];
    for (let slot = 0; slot < k; slot++)
      if (ids[t * k + slot] !== -1) row.push((of === 'ids' ? ids : logits)[t * k + slot]!);
    return row;
  });
}

const expectedLabels = (record: CaptureRecord) =>
  Array.from(record.inputIds, (id, t) => (record.labelMask[t] === 1 ? id : -100));

// The features as datasets 2.15 writes them (utils/py_utils.py asdict: defaults left out).
const seq = (dtype: string) => ({ feature: { dtype, _type: 'Value' }, _type: 'Sequence' });
const seqSeq = (dtype: string) => ({ feature: seq(dtype), _type: 'Sequence' });
const REPRESENTATION_FEATURES = {
  input_ids: seq('int64'),
  attention_mask: seq('bool'),
  labels: seq('int64'),
  per_step_logits: seqSeq('float32'),
  per_step_indices: seqSeq('int64'),
  metric_ce: { dtype: 'float64', _type: 'Value' },
};

describe('exportStoreToHfDataset: a pivot store', async () => {
  const storeDir = fresh('pivot');
  await writeStore(storeDir, PIVOT_RECORDS);
  const out = fresh('out');
  const summary = await exportStoreToHfDataset(storeDir, { out });
  const stored: CaptureRecord[] = [];
  const store = await openStore(storeDir);
  for await (const record of store) stored.push(record);
  await store.close();

  it('writes a DatasetDict directory as save_to_disk does', () => {
    expect(readdirSync(out).sort()).toEqual(['dataset_dict.json', 'fusechat-export.json', 'train']);
    expect(JSON.parse(readFileSync(join(out, 'dataset_dict.json'), 'utf8'))).toEqual({ splits: ['train'] });
    expect(readdirSync(join(out, 'train')).sort()).toEqual([
      'data-00000-of-00001.arrow',
      'dataset_info.json',
      'state.json',
    ]);
    const state = JSON.parse(readFileSync(join(out, 'train', 'state.json'), 'utf8'));
    expect(Object.keys(state)).toEqual([
      '_data_files',
      '_fingerprint',
      '_format_columns',
      '_format_kwargs',
      '_format_type',
      '_output_all_columns',
      '_split',
    ]);
    expect(state).toMatchObject({
      _data_files: [{ filename: 'data-00000-of-00001.arrow' }],
      _format_columns: null,
      _format_kwargs: {},
      _format_type: null,
      _output_all_columns: false,
      _split: 'train',
    });
    expect(state._fingerprint).toMatch(/^[0-9a-f]{16}$/);
    const info = JSON.parse(readFileSync(join(out, 'train', 'dataset_info.json'), 'utf8'));
    expect(Object.keys(info)).toEqual(['citation', 'description', 'features', 'homepage', 'license']);
    expect(info.features).toEqual(REPRESENTATION_FEATURES);
    expect(Object.keys(info.features)).toEqual(Object.keys(REPRESENTATION_FEATURES));
    expect(existsSync(`${out}.partial-${process.pid}`)).toBe(false);
  });

  it('writes an Arrow stream whose schema is what datasets derives from the features', () => {
    const { streams } = readSplit(out);
    const stream = streams[0]!;
    expect(stream.endOfStream).toBe(true);
    const describe = (field: ArrowStream['fields'][number]): unknown => ({
      name: field.name,
      nullable: field.nullable,
      type: field.type,
      children: field.children.map(describe),
    });
    const list = (name: string, child: unknown) => ({
      name,
      nullable: true,
      type: { kind: 'list' },
      children: [child],
    });
    const leaf = (type: unknown) => ({ name: 'item', nullable: true, type, children: [] });
    const int64 = { kind: 'int', bitWidth: 64, signed: true };
    const float32 = { kind: 'float', precision: 'single' };
    expect(stream.fields.map(describe)).toEqual([
      list('input_ids', leaf(int64)),
      list('attention_mask', leaf({ kind: 'bool' })),
      list('labels', leaf(int64)),
      list('per_step_logits', list('item', leaf(float32))),
      list('per_step_indices', list('item', leaf(int64))),
      { name: 'metric_ce', nullable: true, type: { kind: 'float', precision: 'double' }, children: [] },
    ]);
    const metadata = JSON.parse(stream.metadata.get('huggingface') ?? '{}');
    expect(metadata.info.features).toEqual(REPRESENTATION_FEATURES);
  });

  it('holds every record exactly: ids, mask, labels, top-k ids, the fp16 values as float32, CE', () => {
    const { rows } = readSplit(out);
    expect(rows).toHaveLength(PIVOT_RECORDS.length);
    expect(summary).toMatchObject({ examples: 23, kind: 'representation', nanCe: 1, droppedNanCe: 0 });
    expect(summary.tokens).toBe(PIVOT_RECORDS.reduce((sum, r) => sum + r.inputIds.length, 0));
    rows.forEach((row, i) => {
      const original = PIVOT_RECORDS[i]!;
      const record = stored[i]!;
      expect(record.id).toBe(original.id);
      expect(row.input_ids).toEqual(Array.from(original.inputIds));
      expect(row.attention_mask).toEqual(Array.from(original.inputIds, () => true));
      expect(row.labels).toEqual(expectedLabels(original));
      expect(row.per_step_indices).toEqual(rowsOf(original, 'ids'));
      // The store's decoded values, and independently the original logits rounded to fp16.
      expect(row.per_step_logits).toEqual(rowsOf(record, 'logits'));
      expect(row.per_step_logits).toEqual(rowsOf(original, 'logits').map((r) => r.map(roundToFloat16)));
      if (Number.isNaN(original.ce)) expect(row.metric_ce).toBeNaN();
      else expect(row.metric_ce).toBe(original.ce);
    });
    // The rounding is real: some values changed, so the fp16 check above is not vacuous.
    const changed = rowsOf(PIVOT_RECORDS[5]!, 'logits')
      .flat()
      .filter((v) => roundToFloat16(v) !== v);
    expect(changed.length).toBeGreaterThan(0);
  });

  it('reads the same with apache-arrow, every row', () => {
    const table = tableFromIPC(readFileSync(join(out, 'train', 'data-00000-of-00001.arrow')));
    expect(table.numRows).toBe(PIVOT_RECORDS.length);
    expect(table.schema.fields.map((f) => f.name)).toEqual(Object.keys(REPRESENTATION_FEATURES));
    const list = (vector: { toArray(): ArrayLike<unknown> } | null) => Array.from(vector!.toArray(), Number);
    PIVOT_RECORDS.forEach((original, i) => {
      expect(list(table.getChild('input_ids')!.get(i))).toEqual(Array.from(original.inputIds));
      expect(list(table.getChild('labels')!.get(i))).toEqual(expectedLabels(original));
      const logits = table.getChild('per_step_logits')!.get(i)!;
      const indices = table.getChild('per_step_indices')!.get(i)!;
      expect(logits.length).toBe(original.inputIds.length);
      rowsOf(original, 'logits').forEach((row, t) => {
        expect(Array.from(logits.get(t)!.toArray())).toEqual(row.map(roundToFloat16));
        expect(list(indices.get(t))).toEqual(rowsOf(original, 'ids')[t]);
      });
      const ce = table.getChild('metric_ce')!.get(i);
      if (Number.isNaN(original.ce)) expect(ce).toBeNaN();
      else expect(ce).toBe(original.ce);
    });
  });

  it('leaves no lock file or temporary directory behind', () => {
    expect(readdirSync(root).filter((name) => name.endsWith('.lock') || name.includes('.partial-'))).toEqual(
      [],
    );
  });
});

describe('exportStoreToHfDataset: sharding, next-token CE, NaN filtering', () => {
  it('shards at shardBytes into data-0000i-of-0000n.arrow files listed in state.json, in store order', async () => {
    const storeDir = fresh('pivot');
    await writeStore(storeDir, PIVOT_RECORDS);
    const out = fresh('out');
    // Batches of ≤ 1000 rows or ~16 MiB: 23 tiny rows make one batch, so force small shards through
    // a small shardBytes on a larger store.
    const many = Array.from({ length: 1200 }, (_, i) => pivotRecord(100 + i));
    const manyDir = fresh('pivot-many');
    await writeStore(manyDir, many);
    const summary = await exportStoreToHfDataset(manyDir, { out, shardBytes: 100_000 });
    const { state, rows, streams } = readSplit(out);
    expect(summary.files.length).toBeGreaterThan(1);
    const files = (state._data_files as { filename: string }[]).map((f) => f.filename);
    expect(files).toEqual(
      summary.files.map(
        (_, i) =>
          `data-${String(i).padStart(5, '0')}-of-${String(summary.files.length).padStart(5, '0')}.arrow`,
      ),
    );
    expect(streams.every((s) => s.endOfStream)).toBe(true);
    expect(rows.map((r) => r.input_ids)).toEqual(many.map((r) => Array.from(r.inputIds)));
    expect(summary.files.reduce((sum, f) => sum + f.examples, 0)).toBe(1200);
    for (const file of summary.files) expect(readFileSync(join(out, file.file)).byteLength).toBe(file.bytes);
  });

  it('adds per_step_metric_ce (−log p of the next token, length − 1) when the store has it', async () => {
    const records = Array.from({ length: 6 }, (_, i) => pivotRecord(i, { nextTokenLogProbs: true }));
    const storeDir = fresh('pivot-logprobs');
    await writeStore(storeDir, records, { nextTokenLogProbs: true });
    const out = fresh('out');
    const summary = await exportStoreToHfDataset(storeDir, { out });
    expect(summary.columns.at(-1)).toEqual({
      name: 'per_step_metric_ce',
      feature: { feature: { dtype: 'float32', _type: 'Value' }, _type: 'Sequence' },
    });
    const { rows } = readSplit(out);
    rows.forEach((row, i) => {
      const logProbs = Array.from(records[i]!.nextTokenLogProbs!).slice(0, -1);
      expect(row.per_step_metric_ce).toEqual(logProbs.map((v) => -roundToFloat16(v)));
    });
  });

  it('drops examples with a NaN CE on request, as FuseChat filter_nan.py does', async () => {
    const storeDir = fresh('pivot');
    await writeStore(storeDir, PIVOT_RECORDS);
    const out = fresh('out');
    const summary = await exportStoreToHfDataset(storeDir, { out, dropNanCe: true });
    expect(summary).toMatchObject({ examples: 22, droppedNanCe: 1, nanCe: 0 });
    expect(readSplit(out).rows.map((r) => r.metric_ce)).not.toContainEqual(Number.NaN);
  });

  it('writes a valid empty dataset for an empty store', async () => {
    const storeDir = fresh('empty');
    await writeStore(storeDir, []);
    const out = fresh('out');
    const summary = await exportStoreToHfDataset(storeDir, { out });
    expect(summary.examples).toBe(0);
    const { streams, rows } = readSplit(out);
    expect(streams).toHaveLength(1);
    expect(streams[0]!.fields.map((f) => f.name)).toContain('per_step_logits');
    expect(rows).toEqual([]);
    expect(tableFromIPC(readFileSync(join(out, 'train', 'data-00000-of-00001.arrow'))).numRows).toBe(0);
  });
});

describe('exportStoreToHfDataset: an aligned store with its pivot', async () => {
  const pivotDir = fresh('pivot');
  const pivotManifest = await writeStore(pivotDir, PIVOT_RECORDS);
  // conversation-9 has no source record: it is flagged in the aligned store, as alignStore does.
  const alignedRecords = PIVOT_RECORDS.filter((r) => r.id !== 'conversation-9').map((r, i) =>
    alignedRecord(r, i),
  );
  const alignedIdentity = identity({
    model: { name: 'tiny-source', configHash: 'e'.repeat(64) },
    aligned: {
      pivotStore: pivotManifest.contentHash,
      sourceStore: 's'.repeat(64),
      vocabularyMapHash: 'v'.repeat(64),
      mapping: 'min-edit-distance',
    },
  });
  const alignedDir = fresh('aligned');
  await writeStore(alignedDir, alignedRecords, { identity: alignedIdentity, flagged: ['conversation-9'] });

  it("joins the pivot's and the source's distributions into FuseChat's pairwise-fusion columns", async () => {
    const out = fresh('out');
    const summary = await exportStoreToHfDataset(alignedDir, { out, pivot: pivotDir });
    expect(summary.kind).toBe('pairwise-fusion');
    expect(summary.columns.map((c) => c.name)).toEqual([
      'input_ids',
      'attention_mask',
      'labels',
      'per_step_logits',
      'per_step_indices',
      'metric_ce',
      'fused_per_step_logits',
      'fused_per_step_indices',
      'fused_metric_ce',
    ]);
    const info = JSON.parse(readFileSync(join(out, 'train', 'dataset_info.json'), 'utf8'));
    expect(info.features).toEqual({
      ...REPRESENTATION_FEATURES,
      fused_per_step_logits: seqSeq('float32'),
      fused_per_step_indices: seqSeq('int64'),
      fused_metric_ce: { dtype: 'float64', _type: 'Value' },
    });
    const { rows } = readSplit(out);
    expect(rows).toHaveLength(alignedRecords.length);
    let emptyRows = 0;
    rows.forEach((row, i) => {
      const source = alignedRecords[i]!;
      const pivot = PIVOT_RECORDS.find((r) => r.id === source.id)!;
      expect(row.input_ids).toEqual(Array.from(pivot.inputIds));
      expect(row.labels).toEqual(expectedLabels(pivot));
      expect(row.per_step_indices).toEqual(rowsOf(pivot, 'ids'));
      expect(row.per_step_logits).toEqual(rowsOf(pivot, 'logits').map((r) => r.map(roundToFloat16)));
      expect(row.fused_per_step_indices).toEqual(rowsOf(source, 'ids'));
      expect(row.fused_per_step_logits).toEqual(rowsOf(source, 'logits').map((r) => r.map(roundToFloat16)));
      expect((row.fused_per_step_indices as unknown[][]).length).toBe(pivot.inputIds.length);
      emptyRows += (row.fused_per_step_indices as unknown[][]).filter((r) => r.length === 0).length;
      if (Number.isNaN(pivot.ce)) expect(row.metric_ce).toBeNaN();
      else expect(row.metric_ce).toBe(pivot.ce);
      if (Number.isNaN(source.ce)) expect(row.fused_metric_ce).toBeNaN();
      else expect(row.fused_metric_ce).toBe(source.ce);
    });
    expect(emptyRows).toBeGreaterThan(0); // variable entries per position, empty rows included
    expect(summary.nanCe).toBe(2); // pivot's conversation-3, the source's 6th record
  });

  it('refuses an aligned store without its pivot, a pivot for an unaligned store, and another pivot', async () => {
    await expect(exportStoreToHfDataset(alignedDir, { out: fresh('out') })).rejects.toMatchObject({
      code: 'HF_EXPORT_PIVOT_REQUIRED',
    });
    await expect(
      exportStoreToHfDataset(pivotDir, { out: fresh('out'), pivot: pivotDir }),
    ).rejects.toMatchObject({
      code: 'HF_EXPORT_NOT_ALIGNED',
    });
    const otherPivot = fresh('other-pivot');
    await writeStore(otherPivot, PIVOT_RECORDS.slice(0, 5));
    await expect(
      exportStoreToHfDataset(alignedDir, { out: fresh('out'), pivot: otherPivot }),
    ).rejects.toMatchObject({
      code: 'HF_EXPORT_PIVOT_MISMATCH',
    });
  });

  it('refuses an aligned store whose records do not match the pivot records', async () => {
    // Same pivot content hash named, but tokens that differ: an aligned store built by another tool.
    const forged = alignedRecords.map((r, i) =>
      i === 4
        ? { ...r, inputIds: Int32Array.from(r.inputIds, (id, t) => (t === 0 ? (id + 1) % 5000 : id)) }
        : r,
    );
    const dir = fresh('aligned-forged');
    await writeStore(dir, forged, { identity: alignedIdentity });
    const out = fresh('out');
    await expect(exportStoreToHfDataset(dir, { out, pivot: pivotDir })).rejects.toMatchObject({
      code: 'HF_EXPORT_RECORD_MISMATCH',
    });
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(root).filter((name) => name.includes('.partial-'))).toEqual([]);
  });
});

describe('exportStoreToHfDataset: bad input', () => {
  it('refuses a missing store, an incomplete store and a bad shard size with their codes', async () => {
    await expect(exportStoreToHfDataset(fresh('missing'), { out: fresh('out') })).rejects.toMatchObject({
      code: 'STORE_NOT_FOUND',
    });
    const partial = fresh('partial');
    const many = Array.from({ length: 40 }, (_, i) => pivotRecord(i));
    const manifest = await writeStore(partial, many, { finish: false });
    expect(manifest.complete).toBe(false);
    await expect(exportStoreToHfDataset(partial, { out: fresh('out') })).rejects.toMatchObject({
      code: 'STORE_INCOMPLETE',
    });
    await expect(exportStoreToHfDataset(partial, { out: fresh('out'), shardBytes: 0 })).rejects.toMatchObject(
      {
        code: 'HF_EXPORT_INVALID_OPTION',
      },
    );
  });

  it('refuses an existing output directory and leaves it alone; --overwrite replaces it', async () => {
    const storeDir = fresh('pivot');
    await writeStore(storeDir, PIVOT_RECORDS.slice(0, 3));
    const out = fresh('out');
    mkdirSync(out);
    writeFileSync(join(out, 'keep.txt'), 'mine');
    await expect(exportStoreToHfDataset(storeDir, { out })).rejects.toMatchObject({ code: 'OUTPUT_EXISTS' });
    expect(readFileSync(join(out, 'keep.txt'), 'utf8')).toBe('mine');
    await exportStoreToHfDataset(storeDir, { out, overwrite: true });
    expect(existsSync(join(out, 'keep.txt'))).toBe(false);
    expect(readSplit(out).rows).toHaveLength(3);
    await expect(exportStoreToHfDataset(storeDir, { out: join(storeDir, 'inside') })).rejects.toMatchObject({
      code: 'OUTPUT_OVERLAPS_INPUT',
    });
  });
});

describe('the spec reader itself', () => {
  it('refuses a truncated stream or a bad message length, and reports a missing end-of-stream marker', async () => {
    const storeDir = fresh('pivot');
    await writeStore(storeDir, PIVOT_RECORDS.slice(0, 4));
    const out = fresh('out');
    await exportStoreToHfDataset(storeDir, { out });
    const bytes = readFileSync(join(out, 'train', 'data-00000-of-00001.arrow'));
    expect(() => readArrowStream(bytes.subarray(0, bytes.byteLength - 100))).toThrow(/arrow reader/);
    const withoutEos = readArrowStream(bytes.subarray(0, bytes.byteLength - 8));
    expect(withoutEos.endOfStream).toBe(false);
    expect(withoutEos.batches[0]!.length).toBe(4);
    const badLength = Uint8Array.from(bytes);
    new DataView(badLength.buffer).setInt32(4, 0x7fffffff, true); // the schema message's length
    expect(() => readArrowStream(badLength)).toThrow(/runs past the end/);
  });
});
