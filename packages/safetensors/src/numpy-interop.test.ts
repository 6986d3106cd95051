import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { pythonUnavailable, runReference } from '../test/python-reference.js';
import { useTempDir } from '../test/temp-dir.js';
import { createCheckpointWriter } from './create-checkpoint-writer.js';
import type { DType } from './dtype.js';
import { openSafetensors } from './open-safetensors.js';
import type { TensorData } from './tensor-data.js';
import { toFloat32 } from './to-float32.js';
import { writeSafetensors } from './write-safetensors.js';

const dir = useTempDir('interop');

interface Manifest {
  metadata: Record<string, string>;
  tensors: Record<string, { dtype: DType; shape: number[]; values: Array<number | string> }>;
}

/** The JSON form reference.py uses: float bit patterns, 64-bit integers as decimal strings. */
function jsonValues(tensor: TensorData): Array<number | string> {
  const { dtype, data } = tensor;
  if (dtype === 'F32') return [...new Uint32Array(data.buffer, data.byteOffset, data.length)];
  if (dtype === 'F64') return [...new BigUint64Array(data.buffer, data.byteOffset, data.length)].map(String);
  if (dtype === 'I64') return [...(data as BigInt64Array)].map(String);
  return [...(data as Uint8Array)];
}

describe.skipIf(pythonUnavailable)('interop with an independent numpy implementation', () => {
  it('reads a file numpy wrote (header order ≠ body order, every dtype, scalar, empty)', async () => {
    const path = join(dir(), 'numpy.safetensors');
    const manifest = JSON.parse(runReference('write', path)) as Manifest;
    const file = await openSafetensors(path);
    try {
      expect(file.metadata).toEqual(manifest.metadata);
      expect([...file.tensors.keys()].sort()).toEqual(Object.keys(manifest.tensors).sort());
      for (const [name, expected] of Object.entries(manifest.tensors)) {
        const tensor = await file.readTensor(name);
        expect({ name, dtype: tensor.dtype, shape: tensor.shape }).toEqual({
          name,
          dtype: expected.dtype,
          shape: expected.shape,
        });
        const values = jsonValues(tensor);
        expect(values).toEqual(expected.values);
      }
      // float32 views agree with numpy's decoding of the same halves.
      const halves = await file.readFloat32('float16.cube');
      expect(halves[2]).toBe(65504);
      expect(halves[1]).toBe(Infinity);
    } finally {
      await file.close();
    }
  });

  it('writes files numpy reads back identically (single file and shards)', async () => {
    const tensors: Record<string, TensorData> = {
      'w.f32': {
        dtype: 'F32',
        shape: [2, 3],
        data: new Float32Array([1.5, -0, Number.NaN, 1e-45, -Infinity, 3]),
      },
      'w.f16': { dtype: 'F16', shape: [3], data: new Uint16Array([0x0001, 0x7bff, 0xbc00]) },
      'w.bf16': { dtype: 'BF16', shape: [1, 2], data: new Uint16Array([0x3f80, 0x8001]) },
      'w.f64': { dtype: 'F64', shape: [2], data: new Float64Array([0.1, -1e300]) },
      'ids.i64': { dtype: 'I64', shape: [2], data: new BigInt64Array([-(2n ** 63n), 2n ** 63n - 1n]) },
      'ids.i32': { dtype: 'I32', shape: [3], data: new Int32Array([-(2 ** 31), 0, 2 ** 31 - 1]) },
      'ids.i16': { dtype: 'I16', shape: [1], data: new Int16Array([-1]) },
      'ids.i8': { dtype: 'I8', shape: [2], data: new Int8Array([-128, 127]) },
      'mask.u8': { dtype: 'U8', shape: [2, 2], data: new Uint8Array([0, 1, 254, 255]) },
      'mask.bool': { dtype: 'BOOL', shape: [2], data: new Uint8Array([0, 1]) },
      scalar: { dtype: 'F32', shape: [], data: new Float32Array([7]) },
      empty: { dtype: 'BF16', shape: [3, 0], data: new Uint16Array(0) },
      'ünï.ćode': { dtype: 'U8', shape: [1], data: new Uint8Array([9]) },
    };
    const path = join(dir(), 'ours.safetensors');
    await writeSafetensors(path, tensors, { metadata: { format: 'pt' } });
    const single = JSON.parse(runReference('read', path)) as Manifest & { headerKeys: string[] };
    expect(single.metadata).toEqual({ format: 'pt' });
    expect(single.headerKeys).toEqual(Object.keys(tensors));
    for (const [name, tensor] of Object.entries(tensors))
      expect({ name, ...single.tensors[name] }).toEqual({
        name,
        dtype: tensor.dtype,
        shape: tensor.shape,
        values: jsonValues(tensor),
      });

    const out = join(dir(), 'sharded');
    const plan = Object.entries(tensors).map(([name, t]) => ({ name, dtype: t.dtype, shape: t.shape }));
    const writer = await createCheckpointWriter(out, plan, { maxShardBytes: 16 });
    for (const [name, tensor] of Object.entries(tensors).reverse())
      await writer.write(name, tensor.dtype === 'F32' ? toFloat32(tensor) : tensor.data);
    await writer.close();
    expect(writer.shardFiles.length).toBeGreaterThan(3);
    const seen = new Set<string>();
    for (const shard of writer.shardFiles) {
      const read = JSON.parse(runReference('read', join(out, shard))) as Manifest;
      for (const [name, got] of Object.entries(read.tensors)) {
        seen.add(name);
        expect({ name, values: got.values }).toEqual({ name, values: jsonValues(tensors[name]!) });
      }
    }
    expect([...seen].sort()).toEqual(Object.keys(tensors).sort());
  });
});
