import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FileFormatError, isFuseChatError } from '@fusechat/core';
import { describe, expect, it } from 'vitest';
import { useTempDir } from '../test/temp-dir.js';
import { openCheckpoint } from './open-checkpoint.js';
import { writeSafetensors } from './write-safetensors.js';

const dir = useTempDir('checkpoint');
const u8 = (...values: number[]) => ({
  dtype: 'U8' as const,
  shape: [values.length],
  data: new Uint8Array(values),
});

/** A hand-made sharded checkpoint: a.* in shard 1, b.* in shard 2, and an index as given. */
async function sharded(name: string, weightMap: unknown, extraIndex: object = {}): Promise<string> {
  const out = join(dir(), name);
  await mkdir(out, { recursive: true });
  await writeSafetensors(
    join(out, 'model-00001-of-00002.safetensors'),
    { 'a.x': u8(1, 2), 'a.y': u8(3) },
    {
      metadata: { format: 'pt' },
    },
  );
  await writeSafetensors(join(out, 'model-00002-of-00002.safetensors'), { 'b.x': u8(4, 5, 6) });
  await writeFile(
    join(out, 'model.safetensors.index.json'),
    typeof weightMap === 'string' ? weightMap : JSON.stringify({ ...extraIndex, weight_map: weightMap }),
  );
  return out;
}
const goodMap = {
  'a.x': 'model-00001-of-00002.safetensors',
  'a.y': 'model-00001-of-00002.safetensors',
  'b.x': 'model-00002-of-00002.safetensors',
};
const failure = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: unknown) => e as Error & { code?: string; tensorName?: string },
  );

describe('openCheckpoint', () => {
  it('opens a sharded checkpoint and reads across shards', async () => {
    const out = await sharded('good', goodMap, { metadata: { total_size: 6 } });
    const checkpoint = await openCheckpoint(out);
    try {
      expect([...checkpoint.tensors.keys()]).toEqual(['a.x', 'a.y', 'b.x']);
      expect(checkpoint.tensors.get('b.x')).toMatchObject({
        file: 'model-00002-of-00002.safetensors',
        numel: 3,
      });
      expect(checkpoint.metadata).toEqual({ format: 'pt', total_size: '6' });
      expect([...(await checkpoint.readTensor('b.x')).data]).toEqual([4, 5, 6]);
      expect([...(await checkpoint.readFloat32('a.x'))]).toEqual([1, 2]);
      expect([...(await checkpoint.readRaw('a.y'))]).toEqual([3]);
      const missing = await failure(checkpoint.readTensor('c.x'));
      expect(missing?.code).toBe('SAFETENSORS_TENSOR_NOT_FOUND');
    } finally {
      await checkpoint.close();
    }
  });

  it('opens a single model.safetensors, and other prefixes on request', async () => {
    const out = join(dir(), 'single');
    await mkdir(out);
    await writeSafetensors(join(out, 'model.safetensors'), { w: u8(9) }, { metadata: { format: 'pt' } });
    await writeSafetensors(join(out, 'adapter.safetensors'), { lora: u8(7) });
    const checkpoint = await openCheckpoint(out);
    expect([...checkpoint.tensors.values()].map((t) => [t.name, t.file])).toEqual([
      ['w', 'model.safetensors'],
    ]);
    expect(checkpoint.metadata).toEqual({ format: 'pt' });
    await checkpoint.close();
    const adapter = await openCheckpoint(out, { filenamePrefix: 'adapter' });
    expect([...(await adapter.readTensor('lora')).data]).toEqual([7]);
    await adapter.close();
  });

  it('explains a directory without weights, and a missing directory', async () => {
    const out = join(dir(), 'no-weights');
    await mkdir(out);
    await writeSafetensors(join(out, 'pytorch_model.safetensors'), { w: u8(1) });
    const error = await failure(openCheckpoint(out));
    expect(error?.code).toBe('SAFETENSORS_CHECKPOINT_NOT_FOUND');
    expect(error?.message).toContain('pytorch_model.safetensors');
    expect((await failure(openCheckpoint(join(dir(), 'absent'))))?.code).toBe(
      'SAFETENSORS_CHECKPOINT_NOT_FOUND',
    );
  });

  const bad: Array<[string, unknown, string, string?]> = [
    ['index-not-json', '{"weight_map": ', 'SAFETENSORS_INDEX_INVALID'],
    ['index-no-weight-map', '{"metadata": {}}', 'SAFETENSORS_INDEX_INVALID'],
    [
      'index-escapes-dir',
      { ...goodMap, 'b.x': '../model-00002-of-00002.safetensors' },
      'SAFETENSORS_INDEX_INVALID',
      'b.x',
    ],
    ['index-absolute-path', { ...goodMap, 'b.x': '/etc/passwd' }, 'SAFETENSORS_INDEX_INVALID', 'b.x'],
    [
      'index-missing-shard',
      { ...goodMap, 'b.x': 'model-00003-of-00003.safetensors' },
      'SAFETENSORS_INDEX_MISSING_SHARD',
    ],
    [
      'index-lacks-tensor',
      { 'a.x': goodMap['a.x'], 'b.x': goodMap['b.x'] },
      'SAFETENSORS_INDEX_MISMATCH',
      'a.y',
    ],
    ['index-extra-tensor', { ...goodMap, 'c.x': goodMap['b.x'] }, 'SAFETENSORS_INDEX_MISMATCH', 'c.x'],
    ['index-wrong-shard', { ...goodMap, 'a.y': goodMap['b.x'] }, 'SAFETENSORS_INDEX_MISMATCH', 'a.y'],
  ];
  for (const [name, weightMap, code, tensorName] of bad)
    it(`rejects ${name} with ${code}`, async () => {
      const error = await failure(openCheckpoint(await sharded(name, weightMap)));
      expect(error).toBeInstanceOf(FileFormatError);
      expect({ code: error?.code, tensorName: error?.tensorName }).toEqual({ code, tensorName });
    });

  it('rejects a tensor present in two shards', async () => {
    const out = await sharded('twice', goodMap);
    await writeSafetensors(join(out, 'model-00002-of-00002.safetensors'), {
      'b.x': u8(4, 5, 6),
      'a.y': u8(3),
    });
    const error = await failure(openCheckpoint(out));
    expect({ code: error?.code, tensorName: error?.tensorName }).toEqual({
      code: 'SAFETENSORS_DUPLICATE_TENSOR',
      tensorName: 'a.y',
    });
  });

  it('passes on a corrupt shard’s own error', async () => {
    const out = await sharded('corrupt-shard', goodMap);
    await writeFile(join(out, 'model-00002-of-00002.safetensors'), new Uint8Array(5));
    expect((await failure(openCheckpoint(out)))?.code).toBe('SAFETENSORS_FILE_TOO_SMALL');
    await rm(join(out, 'model-00002-of-00002.safetensors'));
    expect(isFuseChatError(await failure(openCheckpoint(out)), 'SAFETENSORS_INDEX_MISSING_SHARD')).toBe(true);
  });
});
