import { type CaptureRecord, EMPTY_SLOT } from '@fusechat/core';
import {
  Bool,
  type Data,
  type DataType,
  Field,
  Float32,
  Float64,
  Int64,
  List,
  makeData,
  RecordBatch,
  type Schema,
  Struct,
} from 'apache-arrow';
import type { ColumnSpec } from './fusechat-columns.js';

/** One exported row: the record whose tokens and distributions it holds, and the aligned source's. */
export interface ExportRow {
  readonly record: CaptureRecord;
  /** Paired exports: the aligned source's record of the same example (pivot positions and ids). */
  readonly fused?: CaptureRecord | undefined;
}

/** Label of a position that is not supervised (transformers' `ignore_index`, FuseChat's IGNORE_TOKEN_ID). */
export const IGNORE_INDEX = -100;

/**
 * Builds one Arrow record batch of `rows` with the given columns, filling the typed buffers
 * directly (no per-value builder calls): offsets as Int32, ids and labels as Int64, top-k values
 * as Float32 (the store's fp16 values, exactly), CE as Float64. No nulls, so no validity buffers.
 */
export function buildRecordBatch(
  schema: Schema,
  columns: readonly ColumnSpec[],
  rows: readonly ExportRow[],
): RecordBatch {
  const tokenOffsets = new Int32Array(rows.length + 1);
  for (let i = 0; i < rows.length; i++)
    tokenOffsets[i + 1] = tokenOffsets[i]! + rows[i]!.record.inputIds.length;
  const cache = new Map<string, EntryLayout>();
  const children = columns.map((column) => buildColumn(column, rows, tokenOffsets, cache));
  return new RecordBatch(
    schema,
    makeData({ type: new Struct(schema.fields), length: rows.length, nullCount: 0, children }),
  );
}

function buildColumn(
  column: ColumnSpec,
  rows: readonly ExportRow[],
  tokenOffsets: Int32Array,
  cache: Map<string, EntryLayout>,
): Data {
  const length = rows.length;
  const tokens = tokenOffsets[length]!;
  const name = column.name;
  const records = name.startsWith('fused_') ? rows.map((row) => fusedOf(row)) : rows.map((row) => row.record);
  switch (column.kind) {
    case 'int64-sequence': {
      const values = new BigInt64Array(tokens);
      // BigInt conversions are slow: write the two 32-bit halves (little-endian) instead.
      const words = new Int32Array(values.buffer);
      let at = 0;
      for (const record of records) {
        const { inputIds, labelMask } = record;
        for (let t = 0; t < inputIds.length; t++, at++) {
          const id = name === 'labels' && labelMask[t] === 0 ? IGNORE_INDEX : inputIds[t]!;
          words[2 * at] = id;
          words[2 * at + 1] = id >> 31;
        }
      }
      return listData(int64Data(values), tokenOffsets);
    }
    case 'bool-sequence': {
      const bits = new Uint8Array(Math.ceil(tokens / 8)).fill(0xff);
      if (tokens % 8 !== 0) bits[bits.length - 1] = (1 << (tokens % 8)) - 1;
      return listData(makeData({ type: new Bool(), length: tokens, nullCount: 0, data: bits }), tokenOffsets);
    }
    case 'float32-sequence': {
      // per_step_metric_ce: the CE of the actual next token, one value per position but the last.
      const offsets = new Int32Array(length + 1);
      for (let i = 0; i < length; i++)
        offsets[i + 1] = offsets[i]! + Math.max(0, records[i]!.inputIds.length - 1);
      const values = new Float32Array(offsets[length]!);
      let at = 0;
      for (const record of records) {
        const logProbs = record.nextTokenLogProbs;
        for (let t = 0; t + 1 < record.inputIds.length; t++)
          values[at++] = logProbs === undefined ? Number.NaN : -logProbs[t]!;
      }
      return listData(float32Data(values), offsets);
    }
    case 'float32-sequence-sequence':
    case 'int64-sequence-sequence': {
      const layout = entryLayout(records, tokens, cache, name.startsWith('fused_') ? 'fused' : 'record');
      let child: Data<DataType>;
      if (column.kind === 'float32-sequence-sequence') {
        const values = new Float32Array(layout.entries);
        let at = 0;
        records.forEach((record, r) => {
          const { ids, logits } = record.topK;
          if (layout.full[r] === 1) {
            values.set(logits, at);
            at += logits.length;
          } else {
            for (let i = 0; i < ids.length; i++) if (ids[i] !== EMPTY_SLOT) values[at++] = logits[i]!;
          }
        });
        child = float32Data(values);
      } else {
        const values = new BigInt64Array(layout.entries);
        const words = new Int32Array(values.buffer);
        let at = 0;
        for (const record of records) {
          const { ids } = record.topK;
          // Ids are ≥ 0, so the high words stay 0.
          for (let i = 0; i < ids.length; i++) {
            const id = ids[i]!;
            if (id !== EMPTY_SLOT) words[2 * at++] = id;
          }
        }
        child = int64Data(values);
      }
      return listData(listData(child, layout.rowOffsets), tokenOffsets);
    }
    case 'float64':
      return makeData({
        type: new Float64(),
        length,
        nullCount: 0,
        data: Float64Array.from(records, (r) => r.ce),
      });
  }
}

/** Where each row's entries start in the flattened values, shared by a model's logits and indices columns. */
interface EntryLayout {
  readonly rowOffsets: Int32Array;
  readonly entries: number;
  /** 1 where every row of the record holds k entries (a plain copy of its values). */
  readonly full: Uint8Array;
}

function entryLayout(
  records: readonly CaptureRecord[],
  tokens: number,
  cache: Map<string, EntryLayout>,
  key: string,
): EntryLayout {
  const cached = cache.get(key);
  if (cached !== undefined) return cached;
  // Only a row's stored entries (an aligned row may hold fewer than k, or none).
  const rowOffsets = new Int32Array(tokens + 1);
  const full = new Uint8Array(records.length);
  let entries = 0;
  let row = 0;
  records.forEach((record, r) => {
    const { ids, k, length: positions } = record.topK;
    const first = entries;
    for (let t = 0; t < positions; t++, row++) {
      for (let slot = 0; slot < k; slot++) if (ids[t * k + slot] !== EMPTY_SLOT) entries++;
      rowOffsets[row + 1] = entries;
    }
    full[r] = entries - first === positions * k ? 1 : 0;
  });
  const layout = { rowOffsets, entries, full };
  cache.set(key, layout);
  return layout;
}

const int64Data = (values: BigInt64Array) =>
  makeData({ type: new Int64(), length: values.length, nullCount: 0, data: values });
const float32Data = (values: Float32Array) =>
  makeData({ type: new Float32(), length: values.length, nullCount: 0, data: values });
function listData<T extends DataType>(child: Data<T>, valueOffsets: Int32Array): Data<List<T>> {
  return makeData({
    type: new List(new Field('item', child.type, true)),
    length: valueOffsets.length - 1,
    nullCount: 0,
    valueOffsets,
    child,
  });
}

function fusedOf(row: ExportRow): CaptureRecord {
  if (row.fused === undefined) throw new Error('internal: a fused_ column without a fused record');
  return row.fused;
}

/** Bytes the columns of one record take in Arrow (values and offsets), for batch and shard sizing. */
export function estimateRowBytes(columns: readonly ColumnSpec[], row: ExportRow): number {
  const length = row.record.inputIds.length;
  let bytes = 0;
  for (const column of columns) {
    const record = column.name.startsWith('fused_') ? fusedOf(row) : row.record;
    switch (column.kind) {
      case 'int64-sequence':
        bytes += 8 * length + 4;
        break;
      case 'bool-sequence':
        bytes += length / 8 + 4;
        break;
      case 'float32-sequence':
        bytes += 4 * length + 4;
        break;
      case 'float32-sequence-sequence':
      case 'int64-sequence-sequence': {
        // Rows are usually full; an aligned store's rows hold up to k.
        const width = column.kind === 'float32-sequence-sequence' ? 4 : 8;
        bytes += width * record.topK.k * length + 4 * length + 4;
        break;
      }
      case 'float64':
        bytes += 8;
        break;
    }
  }
  return bytes;
}
