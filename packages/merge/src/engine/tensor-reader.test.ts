import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bfloat16ToFloat32, float16ToFloat32, openCheckpoint } from '@fusechat/safetensors';
import { afterAll, describe, expect, it } from 'vitest';
import { TensorReader } from './tensor-reader.js';

function rawSafetensors(name: string, dtype: string, data: Uint8Array, numel: number): Uint8Array {
  let json = JSON.stringify({ [name]: { dtype, shape: [numel], data_offsets: [0, data.length] } });
  while (json.length % 8 !== 0) json += ' ';
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(new TextEncoder().encode(json), 8);
  out.set(data, 8 + json.length);
  return out;
}

describe('TensorReader', () => {
  const root = mkdtempSync(join(tmpdir(), 'fusechat-reader-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  // Every 16-bit pattern: normals, subnormals, zeros, infinities, NaNs.
  const allBits = Uint16Array.from({ length: 65536 }, (_, i) => i);

  for (const [dtype, decode] of [
    ['F16', float16ToFloat32],
    ['BF16', bfloat16ToFloat32],
  ] as const) {
    it(`widens every ${dtype} pattern in place exactly as the safetensors decoder does`, async () => {
      const dir = join(root, dtype);
      mkdirSync(dir);
      writeFileSync(
        join(dir, 'model.safetensors'),
        rawSafetensors('x', dtype, new Uint8Array(allBits.buffer), allBits.length),
      );
      const checkpoint = await openCheckpoint(dir);
      const reader = new TensorReader();
      const target = new Float32Array(allBits.length + 10).fill(7);
      const values = await reader.read({ reference: dtype, dir, config: {}, checkpoint }, 'x', target);
      const expected = decode(allBits);
      expect(values.length).toBe(allBits.length);
      expect(new Uint32Array(values.buffer, 0, values.length)).toEqual(new Uint32Array(expected.buffer));
      await reader.close();
      await checkpoint.close();
    });
  }

  for (const dtype of ['F32', 'BF16', 'F16'] as const) {
    it(`reads ${dtype} in pieces, reporting a growing ready prefix, with the same values as one read`, async () => {
      const dir = join(root, `chunked-${dtype}`);
      mkdirSync(dir);
      const numel = 1001;
      const data =
        dtype === 'F32'
          ? new Uint8Array(Float32Array.from({ length: numel }, (_, i) => Math.sin(i) * 3).buffer)
          : new Uint8Array(Uint16Array.from({ length: numel }, (_, i) => (i * 40503) & 0xffff).buffer);
      writeFileSync(join(dir, 'model.safetensors'), rawSafetensors('x', dtype, data, numel));
      const checkpoint = await openCheckpoint(dir);
      const model = { reference: dtype, dir, config: {}, checkpoint };
      const whole = new TensorReader();
      const expected = Float32Array.from(await whole.read(model, 'x', new Float32Array(numel)));
      // 13-byte pieces: not a multiple of the element size, many pieces in flight out of order.
      const reader = new TensorReader({ chunkBytes: 13 });
      const ready: number[] = [];
      const target = new Float32Array(numel + 3).fill(7);
      const values = await reader.read(model, 'x', target, (prefix) => {
        // The prefix is final when reported.
        for (let i = ready.at(-1) ?? 0; i < prefix; i++) expect(Object.is(target[i], expected[i])).toBe(true);
        ready.push(prefix);
      });
      expect(ready.at(-1)).toBe(numel);
      expect(ready.length).toBeGreaterThan(10);
      expect([...ready].sort((a, b) => a - b)).toEqual(ready);
      expect(new Uint32Array(values.buffer, 0, numel)).toEqual(new Uint32Array(expected.buffer));
      await Promise.all([reader.close(), whole.close(), checkpoint.close()]);
    });
  }
});
