import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isFuseChatError } from '@fusechat/core';
import { describe, expect, it } from 'vitest';
import { useTempDir } from '../test/temp-dir.js';
import { openSafetensors } from './open-safetensors.js';
import { writeSafetensors } from './write-safetensors.js';

const dir = useTempDir('write');

describe('writeSafetensors', () => {
  it('writes the exact byte layout of the format (hand-computed)', async () => {
    const path = join(dir(), 'layout.safetensors');
    await writeSafetensors(path, { a: { dtype: 'F32', shape: [2], data: new Float32Array([1, -2]) } });
    const bytes = await readFile(path);
    const json = '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}';
    const padded = Math.ceil(json.length / 8) * 8;
    expect(bytes.readBigUInt64LE(0)).toBe(BigInt(padded));
    expect(bytes.subarray(8, 8 + padded).toString('latin1')).toBe(json.padEnd(padded, ' '));
    // 1.0f = 0x3f800000, -2.0f = 0xc0000000, little-endian
    expect([...bytes.subarray(8 + padded)]).toEqual([0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0]);
    expect(bytes.length).toBe(8 + padded + 8);
  });

  it('round-trips every dtype, metadata, scalars and empty tensors', async () => {
    const path = join(dir(), 'all.safetensors');
    const tensors = {
      f64: { dtype: 'F64' as const, shape: [3], data: new Float64Array([1e300, -0.5, Math.PI]) },
      f32: { dtype: 'F32' as const, shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) },
      f16: { dtype: 'F16' as const, shape: [2], data: new Uint16Array([0x3c00, 0x7c00]) },
      bf16: { dtype: 'BF16' as const, shape: [1, 2], data: new Uint16Array([0x3f80, 0xff80]) },
      i64: { dtype: 'I64' as const, shape: [2], data: new BigInt64Array([-(2n ** 63n), 2n ** 62n + 1n]) },
      i32: { dtype: 'I32' as const, shape: [1], data: new Int32Array([-7]) },
      i16: { dtype: 'I16' as const, shape: [1], data: new Int16Array([-300]) },
      i8: { dtype: 'I8' as const, shape: [1], data: new Int8Array([-128]) },
      u8: { dtype: 'U8' as const, shape: [3], data: new Uint8Array([0, 128, 255]) },
      bool: { dtype: 'BOOL' as const, shape: [2], data: new Uint8Array([1, 0]) },
      scalar: { dtype: 'F32' as const, shape: [], data: new Float32Array([42]) },
      empty: { dtype: 'F32' as const, shape: [0, 4], data: new Float32Array(0) },
    };
    await writeSafetensors(path, tensors, { metadata: { format: 'pt', note: 'ünïcode ✓' } });
    const file = await openSafetensors(path);
    try {
      expect(file.metadata).toEqual({ format: 'pt', note: 'ünïcode ✓' });
      expect([...file.tensors.keys()]).toEqual(Object.keys(tensors));
      for (const [name, tensor] of Object.entries(tensors)) {
        const read = await file.readTensor(name);
        expect(read.dtype).toBe(tensor.dtype);
        expect(read.shape).toEqual(tensor.shape);
        expect(read.data.constructor).toBe(tensor.data.constructor);
        expect([...read.data]).toEqual([...tensor.data]);
      }
      expect(file.tensors.get('scalar')!.numel).toBe(1);
      expect(file.tensors.get('empty')!.byteLength).toBe(0);
    } finally {
      await file.close();
    }
  });

  it('converts a Float32Array to the declared dtype', async () => {
    const path = join(dir(), 'convert.safetensors');
    await writeSafetensors(path, [
      { name: 'h', dtype: 'BF16', shape: [2], data: new Float32Array([1, -2]) },
      { name: 'i', dtype: 'I32', shape: [2], data: new Float32Array([3, -4]) },
    ]);
    const file = await openSafetensors(path);
    expect([...(await file.readTensor('h')).data]).toEqual([0x3f80, 0xc000]);
    expect([...(await file.readTensor('i')).data]).toEqual([3, -4]);
    await file.close();
  });

  it('refuses bad input without leaving files behind', async () => {
    const sub = join(dir(), 'refuse.safetensors');
    const attempts: Array<[string, Parameters<typeof writeSafetensors>[1], object?]> = [
      ['SAFETENSORS_ELEMENT_COUNT_MISMATCH', { a: { dtype: 'F32', shape: [3], data: new Float32Array(2) } }],
      ['SAFETENSORS_DTYPE_MISMATCH', { a: { dtype: 'F16', shape: [2], data: new Int32Array(2) } }],
      ['SAFETENSORS_UNKNOWN_DTYPE', { a: { dtype: 'F8' as never, shape: [2], data: new Uint8Array(2) } }],
      ['SAFETENSORS_INVALID_SHAPE', { a: { dtype: 'F32', shape: [1.5], data: new Float32Array(2) } }],
      ['SAFETENSORS_INVALID_NAME', { __metadata__: { dtype: 'F32', shape: [], data: new Float32Array(1) } }],
      [
        'SAFETENSORS_DUPLICATE_TENSOR',
        [
          { name: 'a', dtype: 'F32', shape: [], data: new Float32Array(1) },
          { name: 'a', dtype: 'F32', shape: [], data: new Float32Array(1) },
        ],
      ],
      ['SAFETENSORS_INVALID_METADATA', {}, { metadata: { n: 1 } }],
    ];
    for (const [code, tensors, options] of attempts) {
      const error = await writeSafetensors(sub, tensors, options as never).catch((e: unknown) => e);
      expect(isFuseChatError(error, code), `${code}: ${String(error)}`).toBe(true);
    }
    expect(await readdir(dir())).not.toContain('refuse.safetensors');
    expect((await readdir(dir())).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });

  it('replaces a file atomically: an open reader keeps the old contents', async () => {
    const path = join(dir(), 'replace.safetensors');
    await writeSafetensors(path, { v: { dtype: 'I32', shape: [1], data: new Int32Array([1]) } });
    const old = await openSafetensors(path);
    await writeSafetensors(path, { v: { dtype: 'I32', shape: [2], data: new Int32Array([2, 3]) } });
    const fresh = await openSafetensors(path);
    expect([...(await old.readTensor('v')).data]).toEqual([1]);
    expect([...(await fresh.readTensor('v')).data]).toEqual([2, 3]);
    await old.close();
    await fresh.close();
  });

  it('reports an unwritable destination with a stable code', async () => {
    const error = await writeSafetensors(join(dir(), 'no-such-dir', 'x.safetensors'), {}).catch(
      (e: unknown) => e,
    );
    expect(isFuseChatError(error, 'SAFETENSORS_FILE_NOT_FOUND')).toBe(true);
    expect((error as Error).message).toContain('no-such-dir');
  });
});
