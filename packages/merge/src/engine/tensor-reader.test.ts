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
});
