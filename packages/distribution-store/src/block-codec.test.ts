import type { CaptureRecord } from '@fusechat/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BlockEncoder, type BlockLayout, decodeBlock } from './block-codec.js';
import { referenceFloat16 } from './testing/reference-float16.js';

const layout = (overrides: Partial<BlockLayout> = {}): BlockLayout => ({
  k: 5,
  vocabSize: 300,
  valueEncoding: 'fp16',
  quantizationStep: 1 / 8,
  nextTokenLogProbs: false,
  idCoding: 'varint',
  ...overrides,
});

/** Arbitrary records for a layout: rows of 0..k entries, values anywhere in ±60000, sorted or not. */
const recordArbitrary = (k: number, vocabSize: number) =>
  fc
    .record({
      id: fc.string({ minLength: 1, maxLength: 12 }),
      rows: fc.array(
        fc.record({
          token: fc.nat({ max: vocabSize - 1 }),
          mask: fc.integer({ min: 0, max: 1 }),
          entries: fc.array(
            fc.tuple(fc.nat({ max: vocabSize - 1 }), fc.float({ noNaN: true, min: -60000, max: 60000 })),
            {
              maxLength: k,
            },
          ),
          logProb: fc.float({ noNaN: true, min: -60000, max: 0 }),
          sorted: fc.boolean(),
          tokenFromPreviousRow: fc.nat({ max: k }),
        }),
        { maxLength: 12 },
      ),
      ce: fc.double({ noDefaultInfinity: true }),
    })
    .map(({ id, rows, ce }): CaptureRecord => {
      const length = rows.length;
      const ids = new Int32Array(length * k).fill(-1);
      const logits = new Float32Array(length * k).fill(Number.NEGATIVE_INFINITY);
      const inputIds = new Int32Array(length);
      rows.forEach((row, t) => {
        const entries = row.sorted ? [...row.entries].sort((a, b) => b[1] - a[1]) : row.entries;
        entries.forEach(([entryId, value], slot) => {
          ids[t * k + slot] = entryId;
          logits[t * k + slot] = value;
        });
        const previous = t > 0 ? ids[(t - 1) * k + row.tokenFromPreviousRow] : -1;
        inputIds[t] = previous !== undefined && previous >= 0 ? previous : row.token;
      });
      return {
        id,
        inputIds,
        labelMask: Uint8Array.from(rows, (row) => row.mask),
        topK: { length, k, ids, logits },
        ce,
        nextTokenLogProbs: Float32Array.from(rows, (row) => row.logProb),
      };
    });

function roundTrip(records: CaptureRecord[], blockLayout: BlockLayout): CaptureRecord[] {
  const encoder = new BlockEncoder(blockLayout);
  for (const record of records) encoder.add(record);
  const estimate = encoder.rawBytes;
  const bytes = encoder.finish();
  // The block-size criterion counts the streams; the block adds its count and stream table.
  expect(bytes.length - estimate).toBeGreaterThanOrEqual(37);
  expect(bytes.length - estimate).toBeLessThanOrEqual(41);
  return decodeBlock(bytes, blockLayout);
}

describe('block codec', () => {
  for (const idCoding of ['varint', 'bitpacked'] as const) {
    it(`fp16 values come back bit for bit, ids and tokens exactly (${idCoding}, property)`, () => {
      fc.assert(
        fc.property(fc.array(recordArbitrary(5, 300), { maxLength: 6 }), (records) => {
          const blockLayout = layout({ idCoding, nextTokenLogProbs: true });
          const decoded = roundTrip(records, blockLayout);
          expect(decoded).toHaveLength(records.length);
          decoded.forEach((record, index) => {
            const original = records[index]!;
            expect(record.id).toBe(original.id);
            expect(record.inputIds).toEqual(original.inputIds);
            expect(record.labelMask).toEqual(original.labelMask);
            expect(Object.is(record.ce, original.ce)).toBe(true);
            expect(record.topK.ids).toEqual(original.topK.ids);
            const want = Array.from(original.topK.logits, (v, at) =>
              original.topK.ids[at]! < 0 ? v : referenceFloat16(v),
            );
            expect(Array.from(record.topK.logits)).toEqual(want);
            expect(Array.from(record.nextTokenLogProbs!)).toEqual(
              Array.from(original.nextTokenLogProbs!, referenceFloat16),
            );
          });
        }),
        { numRuns: 300 },
      );
    });
  }

  it('quantized values are within half a step of the fp16 head minus the gap, with the head exact (property)', () => {
    const step = 1 / 16;
    fc.assert(
      fc.property(fc.array(recordArbitrary(5, 300), { maxLength: 4 }), (records) => {
        const decoded = roundTrip(records, layout({ valueEncoding: 'quantized', quantizationStep: step }));
        decoded.forEach((record, index) => {
          const original = records[index]!;
          for (let t = 0; t < original.topK.length; t++) {
            if (original.topK.ids[t * 5]! < 0) continue;
            const head = referenceFloat16(original.topK.logits[t * 5]!);
            expect(record.topK.logits[t * 5]).toBe(head);
            for (let slot = 1; slot < 5 && original.topK.ids[t * 5 + slot]! >= 0; slot++) {
              const gap = head - original.topK.logits[t * 5 + slot]!;
              if (Math.abs(gap) / step >= 32767) continue; // codes saturate at ±32767 steps
              const error = Math.abs(head - record.topK.logits[t * 5 + slot]! - gap);
              // half a step, plus float32 rounding of the decoded value
              expect(error).toBeLessThanOrEqual(
                step / 2 + Math.abs(head) * 2 ** -23 + 2 ** -20 * Math.abs(gap),
              );
            }
          }
        });
      }),
      { numRuns: 200 },
    );
  });

  it('a token equal to an entry of the previous row is coded as that slot (1 byte)', () => {
    const k = 3;
    const record: CaptureRecord = {
      id: 'x',
      inputIds: new Int32Array([200, 70, 250]),
      labelMask: new Uint8Array([0, 1, 1]),
      topK: {
        length: 3,
        k,
        ids: new Int32Array([5, 70, 9, 1, 2, 3, 4, 5, 6]),
        logits: new Float32Array([3, 2, 1, 3, 2, 1, 3, 2, 1]),
      },
      ce: 0.5,
    };
    const encoder = new BlockEncoder(layout({ k }));
    encoder.add(record);
    const bytes = encoder.finish();
    // header: varint 1, then 9 u32 stream lengths; the tokens stream is the 6th.
    const view = new DataView(bytes.buffer, bytes.byteOffset);
    const tokenStreamBytes = view.getUint32(1 + 5 * 4, true);
    // 200 + 3 → 2 bytes, slot 1 → 1 byte, 250 + 3 → 2 bytes
    expect(tokenStreamBytes).toBe(5);
    expect(decodeBlock(bytes, layout({ k }))[0]!.inputIds).toEqual(record.inputIds);
  });

  it('malformed blocks throw instead of returning garbage', () => {
    const encoder = new BlockEncoder(layout());
    encoder.add({
      id: 'a',
      inputIds: new Int32Array([1, 2]),
      labelMask: new Uint8Array([0, 1]),
      topK: { length: 2, k: 5, ids: new Int32Array(10).fill(3), logits: new Float32Array(10).fill(1) },
      ce: 1,
    });
    const bytes = encoder.finish();
    expect(() => decodeBlock(bytes.subarray(0, bytes.length - 1), layout())).toThrow(RangeError);
    expect(() => decodeBlock(new Uint8Array([...bytes, 0]), layout())).toThrow(RangeError);
  });
});
