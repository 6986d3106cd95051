import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isFuseChatError } from '@fusechat/core';
import { describe, expect, it } from 'vitest';
import { useTempDir } from '../test/temp-dir.js';
import { createCheckpointWriter } from './create-checkpoint-writer.js';
import { openCheckpoint } from './open-checkpoint.js';
import { openSafetensors } from './open-safetensors.js';

const dir = useTempDir('checkpoint-writer');

const plan = [
  { name: 'model.embed_tokens.weight', dtype: 'BF16' as const, shape: [4, 8] }, // 64 B
  { name: 'model.layers.0.mlp.up_proj.weight', dtype: 'F32' as const, shape: [8, 4] }, // 128 B
  { name: 'model.norm.weight', dtype: 'F16' as const, shape: [8] }, // 16 B
  { name: 'lm_head.weight', dtype: 'F32' as const, shape: [4, 8] }, // 128 B
];
const values = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => (i - seed) / 4);

async function writeAll(out: string, maxShardBytes?: number) {
  const writer = await createCheckpointWriter(out, plan, { maxShardBytes });
  // Deliberately out of plan order.
  for (const [k, tensor] of [...plan.entries()].reverse())
    await writer.write(tensor.name, values(32 / (tensor.name === 'model.norm.weight' ? 4 : 1), k));
  await writer.close();
  return writer;
}

describe('createCheckpointWriter', () => {
  it("reports the bytes of the caller's array it has consumed, in 8 MiB pieces, in order", async () => {
    const big = [{ name: 'w', dtype: 'F32' as const, shape: [5, 1 << 20] }];
    const data = new Float32Array(5 << 20).map((_, i) => i % 1000);
    const writer = await createCheckpointWriter(join(dir(), 'consumed'), big);
    const seen: number[] = [];
    await writer.write('w', data, { onConsumed: (bytes) => seen.push(bytes) });
    expect(seen).toEqual([8 << 20, 16 << 20, 20 << 20]);
    await writer.close();
    const back = await openCheckpoint(join(dir(), 'consumed'));
    expect((await back.readFloat32('w')).subarray(0, 3000)).toEqual(data.subarray(0, 3000));
    await back.close();
    // Converted (BF16) data is copied first: all of the caller's bytes at once, before any write.
    const half = [{ name: 'w', dtype: 'BF16' as const, shape: [4] }];
    const converting = await createCheckpointWriter(join(dir(), 'consumed-bf16'), half);
    const calls: number[] = [];
    await converting.write('w', new Float32Array([1, 2, 3, 4]), { onConsumed: (bytes) => calls.push(bytes) });
    expect(calls).toEqual([16]);
    await converting.close();
  });

  it('flushes in the background (backgroundSyncBytes) and writes the same bytes', async () => {
    const plain = join(dir(), 'plain');
    await writeAll(plain);
    const out = join(dir(), 'background-sync');
    const writer = await createCheckpointWriter(out, plan, { backgroundSyncBytes: 1 });
    // Concurrent writes while flushes are in flight.
    await Promise.all(
      [...plan.entries()].map(([k, tensor]) =>
        writer.write(tensor.name, values(32 / (tensor.name === 'model.norm.weight' ? 4 : 1), k)),
      ),
    );
    await writer.close();
    expect(await readFile(join(out, 'model.safetensors'))).toEqual(
      await readFile(join(plain, 'model.safetensors')),
    );
    for (const bad of [0, -1, Number.NaN]) {
      await expect(
        createCheckpointWriter(join(dir(), 'bad'), plan, { backgroundSyncBytes: bad }),
      ).rejects.toMatchObject({
        code: 'SAFETENSORS_INVALID_OPTION',
      });
    }
  });

  it('writes a single model.safetensors with format=pt metadata, data in plan order', async () => {
    const out = join(dir(), 'single');
    const writer = await writeAll(out);
    expect(writer.shardFiles).toEqual(['model.safetensors']);
    expect(await readdir(out)).toEqual(['model.safetensors']);
    const file = await openSafetensors(join(out, 'model.safetensors'));
    expect(file.metadata).toEqual({ format: 'pt' });
    expect([...file.tensors.keys()]).toEqual(plan.map((t) => t.name));
    const offsets = [...file.tensors.values()].map((t) => t.dataOffset);
    expect(offsets).toEqual([...offsets].sort((a, b) => a - b));
    expect([...(await file.readFloat32('lm_head.weight'))]).toEqual([...values(32, 3)]);
    await file.close();
  });

  it('shards greedily by bytes and writes a transformers-style index last', async () => {
    const out = join(dir(), 'sharded');
    // 64 | 128 + 16 | 128  with a 150-byte limit
    const writer = await writeAll(out, 150);
    expect(writer.shardFiles).toEqual([
      'model-00001-of-00003.safetensors',
      'model-00002-of-00003.safetensors',
      'model-00003-of-00003.safetensors',
    ]);
    const index = JSON.parse(await readFile(join(out, 'model.safetensors.index.json'), 'utf8'));
    expect(index.metadata).toEqual({ total_size: 64 + 128 + 16 + 128 });
    expect(Object.keys(index.weight_map)).toEqual([...plan.map((t) => t.name)].sort());
    expect(index.weight_map['model.norm.weight']).toBe('model-00002-of-00003.safetensors');
    const checkpoint = await openCheckpoint(out);
    try {
      expect(checkpoint.metadata).toEqual({ format: 'pt', total_size: '336' });
      expect(checkpoint.tensors.get('lm_head.weight')!.file).toBe('model-00003-of-00003.safetensors');
      // BF16/F16 of multiples of 1/4 in a small range are exact
      expect([...(await checkpoint.readFloat32('model.embed_tokens.weight'))]).toEqual([...values(32, 0)]);
      expect([...(await checkpoint.readFloat32('model.norm.weight'))]).toEqual([...values(8, 2)]);
    } finally {
      await checkpoint.close();
    }
  });

  it('refuses unknown, repeated and wrong-sized writes, and close with tensors missing', async () => {
    const out = join(dir(), 'refuse');
    const writer = await createCheckpointWriter(out, plan);
    const codeOf = (p: Promise<unknown>) =>
      p.then(
        () => 'resolved',
        (e: unknown) => (isFuseChatError(e) ? e.code : String(e)),
      );
    expect(await codeOf(writer.write('nope', new Float32Array(1)))).toBe('SAFETENSORS_TENSOR_NOT_PLANNED');
    expect(await codeOf(writer.write('lm_head.weight', new Float32Array(31)))).toBe(
      'SAFETENSORS_ELEMENT_COUNT_MISMATCH',
    );
    expect(await codeOf(writer.write('lm_head.weight', new Int32Array(32)))).toBe(
      'SAFETENSORS_DTYPE_MISMATCH',
    );
    await writer.write('lm_head.weight', new Float32Array(32));
    expect(await codeOf(writer.write('lm_head.weight', new Float32Array(32)))).toBe(
      'SAFETENSORS_ALREADY_WRITTEN',
    );
    const error = await writer.close().catch((e: unknown) => e);
    expect(isFuseChatError(error, 'SAFETENSORS_MISSING_TENSORS')).toBe(true);
    expect((error as Error).message).toContain('model.norm.weight');
    expect((error as Error).message).not.toContain('lm_head.weight');
    // Nothing visible yet; abort removes the temp file.
    expect((await readdir(out)).filter((f) => !f.startsWith('.'))).toEqual([]);
    await writer.abort();
    await writer.abort();
    expect(await readdir(out)).toEqual([]);
    expect(await codeOf(writer.write('model.norm.weight', new Float32Array(8)))).toBe(
      'SAFETENSORS_WRITER_CLOSED',
    );
  });

  it('validates the plan and options', async () => {
    const codeOf = (p: Promise<unknown>) =>
      p.then(
        () => 'resolved',
        (e: unknown) => (isFuseChatError(e) ? e.code : String(e)),
      );
    const out = join(dir(), 'bad-plan');
    expect(await codeOf(createCheckpointWriter(out, [plan[0]!, plan[0]!]))).toBe(
      'SAFETENSORS_DUPLICATE_TENSOR',
    );
    expect(await codeOf(createCheckpointWriter(out, [{ name: 'x', dtype: 'Q4' as never, shape: [] }]))).toBe(
      'SAFETENSORS_UNKNOWN_DTYPE',
    );
    expect(await codeOf(createCheckpointWriter(out, [{ name: 'x', dtype: 'F32', shape: [-1] }]))).toBe(
      'SAFETENSORS_INVALID_SHAPE',
    );
    expect(await codeOf(createCheckpointWriter(out, plan, { maxShardBytes: 0 }))).toBe(
      'SAFETENSORS_INVALID_OPTION',
    );
  });

  it('takes concurrent writes of different tensors', async () => {
    const out = join(dir(), 'concurrent');
    const writer = await createCheckpointWriter(out, plan, { maxShardBytes: 150 });
    await Promise.all(
      plan.map((tensor, k) =>
        writer.write(tensor.name, values(tensor.name === 'model.norm.weight' ? 8 : 32, k)),
      ),
    );
    await writer.close();
    const checkpoint = await openCheckpoint(out);
    for (const [k, tensor] of plan.entries())
      expect([...(await checkpoint.readFloat32(tensor.name))]).toEqual([
        ...values(
          tensor.shape.reduce((a, b) => a * b),
          k,
        ),
      ]);
    await checkpoint.close();
  });

  it('replaces an earlier checkpoint in the same directory, sharded ⇄ single, keeping other files', async () => {
    const out = join(dir(), 'rewrite');
    await writeAll(out, 150);
    await writeFile(join(out, 'config.json'), '{}');
    await writeFile(join(out, 'other-00001-of-00002.safetensors'), 'not ours');
    await writeAll(out);
    expect((await readdir(out)).sort()).toEqual([
      'config.json',
      'model.safetensors',
      'other-00001-of-00002.safetensors',
    ]);
    const single = await openCheckpoint(out);
    expect(single.tensors.size).toBe(plan.length);
    await single.close();
    await writeAll(out, 200);
    expect((await readdir(out)).sort()).toEqual([
      'config.json',
      'model-00001-of-00002.safetensors',
      'model-00002-of-00002.safetensors',
      'model.safetensors.index.json',
      'other-00001-of-00002.safetensors',
    ]);
    const sharded = await openCheckpoint(out);
    expect([...(await sharded.readFloat32('lm_head.weight'))]).toEqual([...values(32, 3)]);
    await sharded.close();
  });
});
