import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { type CaptureRecord, isFuseChatError } from '@fusechat/core';
import { afterAll, describe, expect, it } from 'vitest';
import { snapshotDirectory } from '../../../scripts/test-support/snapshot-directory.js';
import { createStoreWriter, type StoreWriterOptions } from './create-store-writer.js';
import type { StoreFileSystem } from './io.js';
import { openStore } from './open-store.js';
import { testIdentity, testRecord } from './testing/fixtures.js';

const root = mkdtempSync(join(tmpdir(), 'fusechat-store-writer-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let counter = 0;
const freshDir = () => join(root, `store-${counter++}`);

const options = (overrides: Partial<StoreWriterOptions> = {}): StoreWriterOptions => ({
  identity: testIdentity(),
  k: 4,
  nextTokenLogProbs: true,
  blockExamples: 3,
  shardTargetBytes: 600,
  ...overrides,
});
/**
 * In-process stand-in for a killed writer: the process is "gone", so its lock is stale. (A real
 * SIGKILL leaves a lock whose pid no longer runs, which the next writer takes over: see the kill
 * test.) Without this, the next writer in the same process is refused with OUTPUT_LOCKED.
 */
function simulateKill(dir: string): void {
  rmSync(join(dir, '..', `.${basename(dir)}.lock`), { force: true });
}

const records = Array.from({ length: 30 }, (_, i) => testRecord(i, { nextTokenLogProbs: true }));

async function writeAll(dir: string, items: CaptureRecord[], writerOptions = options()) {
  const writer = await createStoreWriter(dir, writerOptions);
  for (const [index, record] of items.entries()) await writer.append(record, { cursor: index + 1 });
  return writer.finish();
}

async function failure(
  promise: Promise<unknown>,
): Promise<Error & { code?: string; details?: Record<string, unknown> }> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}

describe('createStoreWriter', () => {
  it('writes shards at deterministic boundaries and two writes of the same records are byte-identical', async () => {
    const a = freshDir();
    const b = freshDir();
    const manifest = await writeAll(a, records);
    await writeAll(b, records);
    expect(snapshotDirectory(a)).toEqual(snapshotDirectory(b));
    expect(manifest.shards.length).toBeGreaterThan(2);
    expect(manifest.examples).toBe(30);
    expect(manifest.tokens).toBe(records.reduce((sum, r) => sum + r.inputIds.length, 0));
    expect(manifest.supervisedTokens).toBe(
      records.reduce((sum, r) => sum + r.labelMask.reduce((s, m) => s + m, 0), 0),
    );
    expect(manifest.complete).toBe(true);
    expect(manifest.cursor).toBe(30);
    // No temp files, nothing but the manifest and shard/index pairs.
    const names = readdirSync(a);
    expect(names.filter((name) => name.startsWith('.'))).toEqual([]);
    expect(names).toContain('manifest.json');
    expect(names.filter((name) => name.endsWith('.bin'))).toHaveLength(manifest.shards.length);
    // No timestamps: the manifest holds no date-like string.
    expect(readFileSync(join(a, 'manifest.json'), 'utf8')).not.toMatch(/20\d\d-\d\d-\d\d/);
  });

  it('resumes after a kill at several points (writer dropped mid-shard, after a commit, before any commit) byte-identically', async () => {
    const reference = freshDir();
    await writeAll(reference, records);
    for (const killAfter of [0, 1, 4, 7, 13, 29, 30]) {
      const dir = freshDir();
      const first = await createStoreWriter(dir, options());
      for (let index = 0; index < killAfter; index++)
        await first.append(records[index]!, { cursor: index + 1 });
      // Killed: no finish, no abort. A temp shard file may be left behind; add a stray one too.
      writeFileSync(join(dir, `.shard-00099.bin.4242-deadbeef.tmp`), 'garbage');
      simulateKill(dir);
      const second = await createStoreWriter(dir, options());
      expect(second.cursor).toBeLessThanOrEqual(killAfter);
      expect(second.committedExamples).toBe(second.cursor);
      for (let index = second.cursor; index < records.length; index++)
        await second.append(records[index]!, { cursor: index + 1 });
      await second.finish();
      expect(snapshotDirectory(dir)).toEqual(snapshotDirectory(reference));
    }
  });

  it('resumes after a crash between a shard rename and its manifest (leftover shard files are rewritten)', async () => {
    const reference = freshDir();
    await writeAll(reference, records);
    const dir = freshDir();
    let manifestWrites = 0;
    const fileSystem: StoreFileSystem = {
      open,
      unlink,
      rename: async (from, to) => {
        if (String(to).endsWith('manifest.json') && ++manifestWrites === 3)
          throw Object.assign(new Error('killed'), { code: 'EIO' });
        return rename(from, to);
      },
    };
    const first = await createStoreWriter(dir, options({ fileSystem }));
    const error = await failure(
      (async () => {
        for (const [index, record] of records.entries()) await first.append(record, { cursor: index + 1 });
      })(),
    );
    expect(isFuseChatError(error, 'STORE_IO_ERROR')).toBe(true);
    expect(error.message).toMatch(/manifest\.json/);
    // The failed writer refuses further work with a clear error.
    expect((await failure(first.append(records[0]!, { cursor: 99 }))).code).toBe('STORE_WRITER_CLOSED');
    const second = await createStoreWriter(dir, options());
    for (let index = second.cursor; index < records.length; index++)
      await second.append(records[index]!, { cursor: index + 1 });
    await second.finish();
    expect(snapshotDirectory(dir)).toEqual(snapshotDirectory(reference));
  });

  it('commits flags with the next shard; a resumed writer continues after the last committed flag', async () => {
    const dir = freshDir();
    // One example per block and per shard: every append commits.
    const writer = await createStoreWriter(dir, options({ shardTargetBytes: 1, blockExamples: 1 }));
    await writer.append(records[0]!, { cursor: 1 });
    expect(writer.cursor).toBe(1);
    await writer.flag('bad-1', 'NaN logits', { cursor: 2 });
    expect(writer.cursor).toBe(1);
    await writer.append(records[1]!, { cursor: 3 });
    expect(writer.cursor).toBe(3);
    expect(writer.manifest.flagged).toEqual([{ id: 'bad-1', reason: 'NaN logits' }]);
    await writer.flag('bad-2', 'infinite logits', { cursor: 4 });
    simulateKill(dir);
    const resumed = await createStoreWriter(dir, options({ shardTargetBytes: 1, blockExamples: 1 }));
    expect(resumed.cursor).toBe(3); // bad-2 was not committed: the caller flags it again
    await resumed.flag('bad-2', 'infinite logits', { cursor: 4 });
    const manifest = await resumed.finish();
    expect(manifest.flagged).toEqual([
      { id: 'bad-1', reason: 'NaN logits' },
      { id: 'bad-2', reason: 'infinite logits' },
    ]);
    expect(manifest.cursor).toBe(4);
    expect(manifest.examples).toBe(2);
  });

  it('refuses a different identity or options, naming the fields, and a complete store', async () => {
    const dir = freshDir();
    const writer = await createStoreWriter(dir, options());
    await writer.append(records[0]!, { cursor: 1 });
    // A second writer of the same store while the first is open is refused by the lock.
    expect((await failure(createStoreWriter(dir, options()))).code).toBe('OUTPUT_LOCKED');
    simulateKill(dir);
    const other = testIdentity({ data: { hash: 'e'.repeat(64) }, chatTemplateHash: 'f'.repeat(64) });
    const mismatch = await failure(createStoreWriter(dir, options({ identity: other, k: 5 })));
    expect(mismatch.code).toBe('STORE_IDENTITY_MISMATCH');
    expect(mismatch.details?.fields).toEqual(['identity.chatTemplateHash', 'identity.data.hash', 'k']);
    expect(mismatch.message).toMatch(
      /identity\.data\.hash .*identity\.chatTemplateHash|identity\.chatTemplateHash.*identity\.data\.hash/,
    );
    const complete = freshDir();
    await writeAll(complete, records.slice(0, 2));
    expect((await failure(createStoreWriter(complete, options()))).code).toBe('STORE_ALREADY_COMPLETE');
  });

  it('refuses a non-empty directory that holds no store', async () => {
    const dir = freshDir();
    mkdirSync(dir);
    writeFileSync(join(dir, 'notes.txt'), 'mine');
    expect((await failure(createStoreWriter(dir, options()))).code).toBe('STORE_DIRECTORY_NOT_EMPTY');
  });

  it('validates records at append: shape, ids in the vocabulary, finite values, unique ids, cursor order', async () => {
    const writer = await createStoreWriter(freshDir(), options());
    const good = records[0]!;
    const withLogit = (value: number) => {
      const logits = good.topK.logits.slice();
      logits[1] = value;
      return { ...good, topK: { ...good.topK, logits } };
    };
    expect((await failure(writer.append(withLogit(Number.NaN), { cursor: 1 }))).code).toBe(
      'STORE_NON_FINITE_VALUE',
    );
    expect((await failure(writer.append(withLogit(Number.POSITIVE_INFINITY), { cursor: 1 }))).code).toBe(
      'STORE_NON_FINITE_VALUE',
    );
    expect((await failure(writer.append(withLogit(70000), { cursor: 1 }))).code).toBe(
      'STORE_VALUE_OUT_OF_RANGE',
    );
    const ids = good.topK.ids.slice();
    ids[2] = 1000;
    expect((await failure(writer.append({ ...good, topK: { ...good.topK, ids } }, { cursor: 1 }))).code).toBe(
      'STORE_TOKEN_ID_OUT_OF_RANGE',
    );
    const inputIds = good.inputIds.slice();
    inputIds[0] = -3;
    expect((await failure(writer.append({ ...good, inputIds }, { cursor: 1 }))).code).toBe(
      'STORE_TOKEN_ID_OUT_OF_RANGE',
    );
    expect(
      (await failure(writer.append({ ...good, labelMask: new Uint8Array(1) }, { cursor: 1 }))).code,
    ).toBe('STORE_INVALID_RECORD');
    expect(
      (await failure(writer.append({ ...good, nextTokenLogProbs: undefined }, { cursor: 1 }))).code,
    ).toBe('STORE_INVALID_RECORD');
    expect(
      (await failure(writer.append({ ...good, ce: Number.POSITIVE_INFINITY }, { cursor: 1 }))).code,
    ).toBe('STORE_NON_FINITE_VALUE');
    // Invalid records do not break the writer.
    await writer.append(good, { cursor: 1 });
    expect((await failure(writer.append(good, { cursor: 2 }))).code).toBe('STORE_DUPLICATE_ID');
    expect((await failure(writer.append(records[1]!, { cursor: 0 }))).code).toBe('STORE_INVALID_CURSOR');
    const manifest = await writer.finish();
    expect(manifest.examples).toBe(1);
  });

  it('a resumed writer still refuses ids committed before the kill', async () => {
    const dir = freshDir();
    const first = await createStoreWriter(dir, options({ shardTargetBytes: 1, blockExamples: 1 }));
    await first.append(records[0]!, { cursor: 1 });
    simulateKill(dir);
    const second = await createStoreWriter(dir, options({ shardTargetBytes: 1, blockExamples: 1 }));
    expect(second.cursor).toBe(1);
    expect((await failure(second.append(records[0]!, { cursor: 2 }))).code).toBe('STORE_DUPLICATE_ID');
  });

  it('an empty store is complete with no shards and reads as empty', async () => {
    const dir = freshDir();
    const manifest = await writeAll(dir, []);
    expect(manifest).toMatchObject({ examples: 0, tokens: 0, shards: [], complete: true });
    const store = await openStore(dir, { requireComplete: true });
    const seen = [];
    for await (const record of store) seen.push(record);
    expect(seen).toEqual([]);
    expect(await store.getById('example-0')).toBeUndefined();
    expect(await store.verify()).toEqual({ ok: true, problems: [] });
    await store.close();
  });

  it('a full disk is a clear STORE_DISK_FULL error and the store stays resumable', async () => {
    const reference = freshDir();
    await writeAll(reference, records);
    const dir = freshDir();
    let writes = 0;
    const fileSystem: StoreFileSystem = {
      rename,
      unlink,
      open: (async (path: string, flags: string) => {
        const handle = await open(path, flags);
        if (flags !== 'w' || ++writes < 8) return handle;
        const full = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
        return new Proxy(handle, {
          get(target, property) {
            if (property === 'write' || property === 'writeFile') return () => Promise.reject(full);
            const value = Reflect.get(target, property);
            return typeof value === 'function' ? value.bind(target) : value;
          },
        });
      }) as StoreFileSystem['open'],
    };
    const writer = await createStoreWriter(dir, options({ fileSystem }));
    const error = await failure(
      (async () => {
        for (const [index, record] of records.entries()) await writer.append(record, { cursor: index + 1 });
        await writer.finish();
      })(),
    );
    expect(isFuseChatError(error, 'STORE_DISK_FULL')).toBe(true);
    expect(error.message).toMatch(/Free some space/);
    expect(readdirSync(dir).filter((name) => name.endsWith('.tmp'))).toEqual([]);
    const resumed = await createStoreWriter(dir, options());
    expect(resumed.cursor).toBeGreaterThan(0);
    for (let index = resumed.cursor; index < records.length; index++)
      await resumed.append(records[index]!, { cursor: index + 1 });
    await resumed.finish();
    expect(snapshotDirectory(dir)).toEqual(snapshotDirectory(reference));
  });

  it.skipIf(process.getuid?.() === 0)('an unwritable directory is STORE_PERMISSION_DENIED', async () => {
    const parent = freshDir();
    mkdirSync(parent);
    chmodSync(parent, 0o500);
    try {
      const error = await failure(createStoreWriter(join(parent, 'store'), options()));
      expect(isFuseChatError(error, 'STORE_PERMISSION_DENIED')).toBe(true);
      expect(error.message).toContain(parent);
    } finally {
      chmodSync(parent, 0o700);
    }
    expect(existsSync(join(parent, 'store'))).toBe(false);
  });

  it('a permission error from the file system (injected) is STORE_PERMISSION_DENIED', async () => {
    const denied = Object.assign(new Error('EACCES: permission denied, open'), { code: 'EACCES' });
    const fileSystem: StoreFileSystem = {
      rename,
      unlink,
      open: (() => Promise.reject(denied)) as StoreFileSystem['open'],
    };
    const dir = freshDir();
    const error = await failure(createStoreWriter(dir, options({ fileSystem })));
    expect(isFuseChatError(error, 'STORE_PERMISSION_DENIED')).toBe(true);
    expect(error.message).toContain(join(dir, 'manifest.json'));
    expect(error.message).toMatch(/writable directory/);
  });

  it('abort drops the uncommitted tail and leaves the store resumable', async () => {
    const dir = freshDir();
    const writer = await createStoreWriter(dir, options());
    for (let index = 0; index < 10; index++) await writer.append(records[index]!, { cursor: index + 1 });
    const committed = writer.cursor;
    await writer.abort();
    await writer.abort();
    expect(readdirSync(dir).filter((name) => name.endsWith('.tmp'))).toEqual([]);
    expect((await failure(writer.append(records[10]!, { cursor: 11 }))).code).toBe('STORE_WRITER_CLOSED');
    const resumed = await createStoreWriter(dir, options());
    expect(resumed.cursor).toBe(committed);
  });
});
