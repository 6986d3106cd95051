import { open as openFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FileFormatError, isFuseChatError } from '@fusechat/core';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { type MalformedCase, writeMalformedCorpus } from '../test/malformed-corpus.js';
import { useTempDir } from '../test/temp-dir.js';
import { openSafetensors } from './open-safetensors.js';
import { writeSafetensors } from './write-safetensors.js';

const dir = useTempDir('malformed');
let corpus: Array<MalformedCase & { path: string }> = [];
beforeAll(async () => {
  corpus = await writeMalformedCorpus(dir());
});

describe('the malformed-file corpus', () => {
  it('has at least 20 distinct cases', async () => {
    expect(corpus.length).toBeGreaterThanOrEqual(20);
    expect(new Set(corpus.map((c) => c.code)).size).toBeGreaterThanOrEqual(15);
  });

  it('answers every case with a FileFormatError carrying its code, path, tensor and offset', async () => {
    const failures: string[] = [];
    for (const c of corpus) {
      const rssBefore = process.memoryUsage().rss;
      const error = await openSafetensors(c.path).then(
        async (file) => {
          await file.close();
          return undefined;
        },
        (e: unknown) => e,
      );
      const grown = process.memoryUsage().rss - rssBefore;
      const got =
        error instanceof FileFormatError
          ? { code: error.code, tensorName: error.tensorName, offset: error.offset, path: error.path }
          : { error: String(error) };
      const want = { code: c.code, tensorName: c.tensorName, offset: c.offset, path: c.path };
      if (JSON.stringify(got) !== JSON.stringify(want))
        failures.push(`${c.name} (${c.problem}): got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
      else if (!(error as Error).message.includes(c.path)) failures.push(`${c.name}: message lacks the path`);
      // Generous bound: catches an attempt to allocate what a hostile header claims (GBs or TBs).
      if (grown > 256 * 1024 * 1024) failures.push(`${c.name}: RSS grew by ${grown} bytes`);
    }
    expect(failures).toEqual([]);
  });
});

describe('reading a tensor whose bytes are gone', () => {
  it('reports SAFETENSORS_TRUNCATED when the file shrinks after open', async () => {
    const path = join(dir(), 'shrinks.safetensors');
    await writeSafetensors(path, {
      a: { dtype: 'F32', shape: [4], data: new Float32Array(4) },
      b: { dtype: 'F32', shape: [1024], data: new Float32Array(1024) },
    });
    const file = await openSafetensors(path);
    try {
      const b = file.tensors.get('b')!;
      const handle = await openFile(path, 'r+');
      await handle.truncate(b.dataOffset + 100);
      await handle.close();
      expect((await file.readTensor('a')).data.length).toBe(4);
      const error = await file.readRaw('b').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(FileFormatError);
      expect(error).toMatchObject({
        code: 'SAFETENSORS_TRUNCATED',
        tensorName: 'b',
        offset: b.dataOffset + 100,
      });
    } finally {
      await file.close();
    }
  });

  it('reports SAFETENSORS_TENSOR_NOT_FOUND with a suggestion, and SAFETENSORS_CLOSED after close', async () => {
    const path = join(dir(), 'names.safetensors');
    await writeSafetensors(path, { 'lm_head.weight': { dtype: 'U8', shape: [1], data: new Uint8Array(1) } });
    const file = await openSafetensors(path);
    const missing = await file.readTensor('lm_head.weights').catch((e: unknown) => e);
    expect(isFuseChatError(missing, 'SAFETENSORS_TENSOR_NOT_FOUND')).toBe(true);
    expect((missing as Error).message).toContain('Did you mean "lm_head.weight"');
    await file.close();
    await file.close();
    const closed = await file.readTensor('lm_head.weight').catch((e: unknown) => e);
    expect(isFuseChatError(closed, 'SAFETENSORS_CLOSED')).toBe(true);
  });

  it('reports a missing file and a directory with stable codes', async () => {
    const missing = await openSafetensors(join(dir(), 'nope.safetensors')).catch((e: unknown) => e);
    expect(isFuseChatError(missing, 'SAFETENSORS_FILE_NOT_FOUND')).toBe(true);
    await writeFile(join(dir(), 'placeholder'), '');
    const directory = await openSafetensors(dir()).catch((e: unknown) => e);
    expect(isFuseChatError(directory, 'SAFETENSORS_NOT_A_FILE')).toBe(true);
  });
});

describe('fuzzed files', () => {
  it('opening random bytes or a damaged valid file only ever throws FileFormatError (property)', async () => {
    const valid = join(dir(), 'valid.safetensors');
    await writeSafetensors(
      valid,
      {
        'model.embed': { dtype: 'BF16', shape: [4, 3], data: new Uint16Array(12) },
        lm_head: { dtype: 'F32', shape: [3], data: new Float32Array(3) },
      },
      { metadata: { format: 'pt' } },
    );
    const original = new Uint8Array(await readFile(valid));
    const target = join(dir(), 'fuzz.safetensors');
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ maxLength: 64 }),
          fc
            .tuple(
              fc.array(fc.tuple(fc.nat(original.length - 1), fc.integer({ min: 0, max: 255 })), {
                minLength: 1,
                maxLength: 3,
              }),
              fc.integer({ min: -16, max: 16 }),
            )
            .map(([edits, sizeDelta]) => {
              const bytes = new Uint8Array(Math.max(0, original.length + sizeDelta));
              bytes.set(original.subarray(0, bytes.length));
              for (const [index, value] of edits) if (index < bytes.length) bytes[index] = value;
              return bytes;
            }),
        ),
        async (bytes) => {
          await writeFile(target, bytes);
          try {
            const file = await openSafetensors(target);
            for (const name of file.tensors.keys()) await file.readTensor(name);
            await file.close();
          } catch (error) {
            expect(error).toBeInstanceOf(FileFormatError);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
