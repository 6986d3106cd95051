import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { findCachedSnapshot } from './hub-cache.js';
import type { HubError } from './hub-error.js';
import { resolveModelReference } from './resolve-model-reference.js';
import { etagOf, type FakeFile, tinySafetensors } from './test-support/fake-hub.js';
import { writeHfCache } from './test-support/hf-cache-fixture.js';

const MAIN = '1'.repeat(40);
const DEV = '2'.repeat(40);
const REPO = 'acme/tiny-llama';
const encoder = new TextEncoder();

function modelFiles(tag: string): FakeFile[] {
  return [
    { path: 'config.json', content: encoder.encode(JSON.stringify({ model_type: 'llama', tag })) },
    { path: 'tokenizer.json', content: encoder.encode('{"model":{}}') },
    { path: 'model.safetensors', content: tinySafetensors([1, 2, 3]), lfs: true },
  ];
}

async function rejection(promise: Promise<unknown>): Promise<HubError> {
  try {
    await promise;
  } catch (error) {
    return error as HubError;
  }
  throw new Error('expected a rejection');
}

describe('resolveModelReference from a huggingface_hub cache', () => {
  let root: string;
  let cache: string;
  let env: NodeJS.ProcessEnv;

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'fusechat-hub-resolve-'));
    cache = join(root, 'hf', 'hub');
    // Offline and a dead endpoint: nothing in this suite may touch the network.
    env = { HF_HOME: join(root, 'hf'), HF_HUB_OFFLINE: '1', HF_ENDPOINT: 'http://127.0.0.1:9' };
    writeHfCache(cache, REPO, MAIN, modelFiles('main'), ['main']);
    writeHfCache(cache, REPO, DEV, modelFiles('dev'), ['dev', 'v1.0']);
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('resolves ORG/NAME through refs/main to snapshots/<commit>', async () => {
    const resolved = await resolveModelReference(REPO, { env, baseDir: root });
    expect(resolved).toEqual({
      dir: join(cache, 'models--acme--tiny-llama', 'snapshots', MAIN),
      source: 'cache',
      repo: REPO,
      revision: 'main',
      commit: MAIN,
    });
    expect(JSON.parse(readFileSync(join(resolved.dir, 'config.json'), 'utf8')).tag).toBe('main');
    // The snapshot's files are huggingface_hub's relative symlinks into blobs/.
    expect(readlinkSync(join(resolved.dir, 'model.safetensors'))).toBe(
      join('..', '..', 'blobs', etagOf(modelFiles('main')[2]!)),
    );
  });

  it('resolves @branch and @tag through their refs, and @commit directly', async () => {
    for (const revision of ['dev', 'v1.0', DEV]) {
      const resolved = await resolveModelReference(`${REPO}@${revision}`, { env, baseDir: root });
      expect(resolved.commit, revision).toBe(DEV);
      expect(JSON.parse(readFileSync(join(resolved.dir, 'config.json'), 'utf8')).tag).toBe('dev');
    }
    // A commit with no ref pointing at it still resolves.
    rmSync(join(cache, 'models--acme--tiny-llama', 'refs', 'dev'));
    expect((await resolveModelReference(`${REPO}@${DEV}`, { env, baseDir: root })).source).toBe('cache');
  });

  it('reads HF_HUB_CACHE before HF_HOME', async () => {
    const elsewhere = join(root, 'elsewhere');
    writeHfCache(elsewhere, REPO, DEV, modelFiles('elsewhere'), ['main']);
    const resolved = await resolveModelReference(REPO, {
      env: { ...env, HF_HUB_CACHE: elsewhere },
      baseDir: root,
    });
    expect(JSON.parse(readFileSync(join(resolved.dir, 'config.json'), 'utf8')).tag).toBe('elsewhere');
  });

  it('prefers a local directory of the same name, as transformers does', async () => {
    const local = join(root, 'acme', 'tiny-llama');
    mkdirSync(local, { recursive: true });
    expect(await resolveModelReference(REPO, { env, baseDir: root })).toEqual({
      dir: local,
      source: 'local',
    });
  });

  it('offline and not cached: HUB_NOT_CACHED naming the local path and the cache folder it looked in', async () => {
    const error = await rejection(resolveModelReference('acme/other-model', { env, baseDir: root }));
    expect(error.code).toBe('HUB_NOT_CACHED');
    expect(error.message).toContain(join(root, 'acme', 'other-model'));
    expect(error.message).toContain(join(cache, 'models--acme--other-model'));
    expect(error.message).toContain('HF_HUB_OFFLINE');
    expect(error.cacheDir).toBe(join(cache, 'models--acme--other-model'));
    const unknownRevision = await rejection(resolveModelReference(`${REPO}@nope`, { env, baseDir: root }));
    expect(unknownRevision.code).toBe('HUB_NOT_CACHED');
  });

  it('a snapshot that lacks its weights (blob gone, or shard missing) is incomplete, not usable', async () => {
    const folder = join(cache, 'models--acme--tiny-llama');
    unlinkSync(join(folder, 'blobs', etagOf(modelFiles('main')[2]!)));
    expect((await findCachedSnapshot(cache, REPO, 'main'))?.missing).toEqual(['model.safetensors']);
    const error = await rejection(resolveModelReference(REPO, { env, baseDir: root }));
    expect(error.code).toBe('HUB_SNAPSHOT_INCOMPLETE');
    expect(error.message).toContain('model.safetensors');

    const sharded = '3'.repeat(40);
    const index = {
      metadata: {},
      weight_map: { a: 'model-00001-of-00002.safetensors', b: 'model-00002-of-00002.safetensors' },
    };
    writeHfCache(cache, 'acme/sharded', sharded, [
      { path: 'config.json', content: encoder.encode('{}') },
      { path: 'model.safetensors.index.json', content: encoder.encode(JSON.stringify(index)) },
      { path: 'model-00001-of-00002.safetensors', content: tinySafetensors([1]), lfs: true },
    ]);
    expect((await findCachedSnapshot(cache, 'acme/sharded', 'main'))?.missing).toEqual([
      'model-00002-of-00002.safetensors',
    ]);
  });

  it('a ref that does not hold a commit hash is no cache entry', async () => {
    writeFileSync(join(cache, 'models--acme--tiny-llama', 'refs', 'main'), 'not-a-commit');
    expect(await findCachedSnapshot(cache, REPO, 'main')).toBeUndefined();
  });

  it('path-shaped references that do not exist: HUB_PATH_NOT_FOUND with the absolute path', async () => {
    for (const reference of ['./models/pivot', 'models/pivot/v2', '/nonexistent/model']) {
      const error = await rejection(resolveModelReference(reference, { env, baseDir: root }));
      expect(error.code, reference).toBe('HUB_PATH_NOT_FOUND');
      expect(error.message).toContain('ORG/NAME[@revision]');
    }
    expect((await rejection(resolveModelReference('', { env }))).code).toBe('HUB_INVALID_REFERENCE');
    expect((await rejection(resolveModelReference('bad--org/x', { env, baseDir: root }))).code).toBe(
      'HUB_INVALID_REPO_ID',
    );
  });
});
