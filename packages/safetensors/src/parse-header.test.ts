import { FileFormatError } from '@fusechat/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseSafetensorsHeader } from './parse-header.js';
import { serializeHeader } from './serialize-header.js';

const encode = (text: string) => new TextEncoder().encode(text);

describe('parseSafetensorsHeader', () => {
  it('computes absolute data offsets, numel and byte lengths', () => {
    const header = encode(
      '{"__metadata__":{"format":"pt"},"b":{"dtype":"BF16","shape":[2,3],"data_offsets":[4,16]},"a":{"dtype":"I32","shape":[],"data_offsets":[0,4]}}',
    );
    const parsed = parseSafetensorsHeader(header, 8 + header.length + 16, 'x');
    expect(parsed.metadata).toEqual({ format: 'pt' });
    expect([...parsed.tensors.keys()]).toEqual(['b', 'a']);
    expect(parsed.tensors.get('b')).toEqual({
      name: 'b',
      dtype: 'BF16',
      shape: [2, 3],
      numel: 6,
      byteLength: 12,
      dataOffset: 8 + header.length + 4,
    });
    expect(parsed.tensors.get('a')).toMatchObject({ numel: 1, byteLength: 4, dataOffset: 8 + header.length });
  });

  it('accepts names that are JavaScript prototype keys', () => {
    const header = encode(
      '{"__metadata__":{"__proto__":"x"},"__proto__":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"constructor":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}',
    );
    const parsed = parseSafetensorsHeader(header, 8 + header.length + 2);
    expect([...parsed.tensors.keys()]).toEqual(['__proto__', 'constructor']);
    expect(Object.getOwnPropertyDescriptor(parsed.metadata, '__proto__')?.value).toBe('x');
  });

  it('parses what serializeHeader writes, for any plan (property)', () => {
    const tensor = fc.record({
      name: fc.string({ minLength: 0, maxLength: 12 }).filter((n) => n !== '__metadata__'),
      dtype: fc.constantFrom('F64', 'F32', 'F16', 'BF16', 'I64', 'I32', 'I16', 'I8', 'U8', 'BOOL' as const),
      shape: fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 4 }),
    });
    fc.assert(
      fc.property(
        fc.uniqueArray(tensor, { selector: (t) => t.name, maxLength: 8 }),
        fc.dictionary(fc.string({ maxLength: 6 }), fc.string({ maxLength: 10 })),
        (plan, metadata) => {
          const numels = plan.map((t) => t.shape.reduce((a, b) => a * b, 1));
          const header = serializeHeader(plan, numels, metadata);
          expect(header.bytes.length % 8).toBe(0);
          const parsed = parseSafetensorsHeader(header.bytes.subarray(8), header.fileSize);
          expect([...parsed.tensors.keys()]).toEqual(plan.map((t) => t.name));
          expect([...parsed.tensors.values()].map((t) => t.dataOffset)).toEqual(header.dataOffsets);
          expect({ ...parsed.metadata }).toEqual({ ...metadata });
        },
      ),
    );
  });

  it('never fails with anything but a FileFormatError on corrupted headers (property)', () => {
    const plan = [
      { name: 'model.embed', dtype: 'BF16' as const, shape: [3, 4] },
      { name: 'lm_head', dtype: 'F32' as const, shape: [2] },
    ];
    const good = serializeHeader(plan, [12, 2], { format: 'pt' });
    const json = good.bytes.subarray(8);
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(json.length - 1), fc.integer({ min: 0, max: 255 })), {
          minLength: 1,
          maxLength: 4,
        }),
        fc.integer({ min: -8, max: 8 }),
        (edits, sizeDelta) => {
          const bytes = json.slice();
          for (const [index, value] of edits) bytes[index] = value;
          try {
            parseSafetensorsHeader(bytes, good.fileSize + sizeDelta, 'fuzz');
          } catch (error) {
            expect(error).toBeInstanceOf(FileFormatError);
          }
        },
      ),
      { numRuns: 3000 },
    );
  });
});
