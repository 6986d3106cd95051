import { existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { createConsoleLogger, type ProgressEvent } from '@fusechat/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { missingModelFiles } from './hub-cache.js';
import type { HubError } from './hub-error.js';
import { resolveModelReference } from './resolve-model-reference.js';
import {
  etagOf,
  type FakeFile,
  type FakeHub,
  type FakeRepo,
  startFakeHub,
  tinySafetensors,
} from './test-support/fake-hub.js';

const encoder = new TextEncoder();
const TOKEN = 'hf_SecretTestToken0123456789';
const MAIN = 'a'.repeat(40);
const OLD = 'b'.repeat(40);
const SHARDED = 'c'.repeat(40);

const config = {
  path: 'config.json',
  content: encoder.encode(JSON.stringify({ model_type: 'llama', hidden_size: 4 })),
};
const generation = { path: 'generation_config.json', content: encoder.encode('{"eos_token_id":2}') };
const tokenizer = {
  path: 'tokenizer.json',
  content: encoder.encode('{"version":"1.0","model":{"type":"BPE"}}'),
};
const tokenizerConfig = {
  path: 'tokenizer_config.json',
  content: encoder.encode('{"chat_template":"{{ x }}"}'),
};
// Large enough that a cut mid-body leaves a real partial file.
const weights: FakeFile = {
  path: 'model.safetensors',
  content: tinySafetensors(Array.from({ length: 4096 }, (_, i) => i / 7)),
  lfs: true,
};
const unwanted: FakeFile[] = [
  { path: 'README.md', content: encoder.encode('# tiny') },
  { path: 'pytorch_model.bin', content: new Uint8Array(64), lfs: true },
  { path: 'consolidated.safetensors', content: tinySafetensors([9, 9]), lfs: true },
];
const index = {
  metadata: { total_size: 8 },
  weight_map: {
    'a.weight': 'model-00001-of-00002.safetensors',
    'b.weight': 'model-00002-of-00002.safetensors',
  },
};
const shard1: FakeFile = {
  path: 'model-00001-of-00002.safetensors',
  content: tinySafetensors([1], 'a.weight'),
  lfs: true,
};
const shard2: FakeFile = {
  path: 'model-00002-of-00002.safetensors',
  content: tinySafetensors([2], 'b.weight'),
  lfs: true,
};

const modelFiles = [config, generation, tokenizer, tokenizerConfig, weights];
const repos: FakeRepo[] = [
  {
    repo: 'acme/tiny',
    commits: { [MAIN]: [...modelFiles, ...unwanted], [OLD]: modelFiles },
    refs: { main: MAIN, 'v0.1': OLD },
  },
  { repo: 'acme/private', commits: { [MAIN]: modelFiles }, refs: { main: MAIN }, private: true },
  { repo: 'acme/gated', commits: { [MAIN]: modelFiles }, refs: { main: MAIN }, gated: true },
  {
    repo: 'acme/sharded',
    commits: {
      [SHARDED]: [
        config,
        tokenizer,
        { path: 'model.safetensors.index.json', content: encoder.encode(JSON.stringify(index)) },
        shard1,
        shard2,
        unwanted[2]!,
      ],
    },
    refs: { main: SHARDED },
  },
  { repo: 'acme/pickle-only', commits: { [MAIN]: [config, unwanted[1]!] }, refs: { main: MAIN } },
];

async function rejection(promise: Promise<unknown>): Promise<HubError> {
  try {
    await promise;
  } catch (error) {
    return error as HubError;
  }
  throw new Error('expected a rejection');
}

/** Every way an error could reach a user or a log: none may hold the token. */
function everythingPrintable(error: unknown): string {
  return [String(error), JSON.stringify(error), inspect(error, { depth: 10 }), (error as Error).stack].join(
    '\n',
  );
}

describe('downloading into the huggingface_hub cache from a loopback Hub', () => {
  let root: string;
  let cache: string;
  let hub: FakeHub;
  let env: NodeJS.ProcessEnv;
  const folder = (repo: string) => join(cache, `models--${repo.replace('/', '--')}`);

  beforeEach(async () => {
    root = mkdtempSync(join(tmpdir(), 'fusechat-hub-download-'));
    cache = join(root, 'hf', 'hub');
    hub = await startFakeHub({ repos, tokens: [TOKEN, 'hf_other'], grantedTokens: [TOKEN] });
    env = { HF_HOME: join(root, 'hf'), HF_ENDPOINT: hub.endpoint };
  });
  afterEach(async () => {
    await hub.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('downloads only the model files, in the cache layout, then resolves them again without the network', async () => {
    const events: ProgressEvent[] = [];
    const resolved = await resolveModelReference('acme/tiny', {
      env,
      baseDir: root,
      onProgress: (event) => events.push(event),
    });
    const snapshot = join(folder('acme/tiny'), 'snapshots', MAIN);
    expect(resolved).toEqual({
      dir: snapshot,
      source: 'download',
      repo: 'acme/tiny',
      revision: 'main',
      commit: MAIN,
    });
    expect(readFileSync(join(folder('acme/tiny'), 'refs', 'main'), 'utf8')).toBe(MAIN);
    expect(readdirSync(snapshot).sort()).toEqual(modelFiles.map((file) => file.path).sort());
    for (const file of modelFiles) {
      const pointer = join(snapshot, file.path);
      expect(lstatSync(pointer).isSymbolicLink(), file.path).toBe(true);
      expect(readlinkSync(pointer)).toBe(join('..', '..', 'blobs', etagOf(file)));
      expect(new Uint8Array(readFileSync(pointer))).toEqual(file.content);
    }
    expect(readdirSync(join(folder('acme/tiny'), 'blobs')).sort()).toEqual(modelFiles.map(etagOf).sort());
    expect(await missingModelFiles(snapshot)).toEqual([]);
    // The routes @huggingface/hub calls: the revision API once, then resolve (+ the CDN for LFS files).
    expect(
      hub.requests
        .filter((request) => request.url.startsWith('/api/'))
        .map((request) => request.url.split('?')[0]),
    ).toEqual(['/api/models/acme/tiny/revision/main']);
    expect(hub.requests.some((request) => /README|pytorch_model|consolidated/.test(request.url))).toBe(false);
    expect(hub.requests.filter((request) => request.server === 'cdn').length).toBeGreaterThan(0);
    // Byte progress: monotonic, ends at the total, which is the sum of the file sizes.
    const total = modelFiles.reduce((sum, file) => sum + file.content.byteLength, 0);
    expect(events.at(-1)).toMatchObject({ task: 'download', unit: 'bytes', completed: total, total });
    for (let i = 1; i < events.length; i++)
      expect(events[i]!.completed).toBeGreaterThanOrEqual(events[i - 1]!.completed);

    const seen = hub.requests.length;
    await hub.close();
    const again = await resolveModelReference('acme/tiny', { env, baseDir: root });
    expect(again).toEqual({ ...resolved, source: 'cache' });
    expect(hub.requests.length).toBe(seen);
  });

  it('a tag is fetched at its commit and gets its own ref; a commit gets none', async () => {
    const tagged = await resolveModelReference('acme/tiny@v0.1', { env, baseDir: root });
    expect(tagged.commit).toBe(OLD);
    expect(readFileSync(join(folder('acme/tiny'), 'refs', 'v0.1'), 'utf8')).toBe(OLD);
    expect(existsSync(join(folder('acme/tiny'), 'refs', 'main'))).toBe(false);
    // Files were asked for at the commit, not at the moving tag.
    expect(
      hub.requests
        .filter((request) => request.url.includes('/resolve/'))
        .every((request) => request.url.includes(`/resolve/${OLD}/`)),
    ).toBe(true);
    const pinned = await resolveModelReference(`acme/tiny@${MAIN}`, { env, baseDir: root });
    expect(pinned).toMatchObject({ source: 'download', commit: MAIN });
    expect(readdirSync(join(folder('acme/tiny'), 'refs'))).toEqual(['v0.1']);
    // Both commits share the blobs their files have in common.
    expect(readdirSync(join(folder('acme/tiny'), 'blobs')).length).toBe(modelFiles.length);
  });

  it('a sharded model: the index, then exactly the shards it names', async () => {
    const resolved = await resolveModelReference('acme/sharded', { env, baseDir: root });
    expect(readdirSync(resolved.dir).sort()).toEqual(
      [
        'config.json',
        'model-00001-of-00002.safetensors',
        'model-00002-of-00002.safetensors',
        'model.safetensors.index.json',
        'tokenizer.json',
      ].sort(),
    );
    expect(new Uint8Array(readFileSync(join(resolved.dir, shard2.path)))).toEqual(shard2.content);
  });

  it("need 'tokenizer' fetches the tokenizer files and config.json, no weights; 'model-and-tokenizer' then adds the weights", async () => {
    const tokenizerOnly = await resolveModelReference('acme/tiny', { env, baseDir: root, need: 'tokenizer' });
    expect(readdirSync(tokenizerOnly.dir).sort()).toEqual(
      ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json'].sort(),
    );
    expect(
      hub.requests.some((request) => request.url.includes('model.safetensors') || request.server === 'cdn'),
    ).toBe(false);
    // Cached for a tokenizer, not for a model: the model's resolution fetches only the weights.
    hub.requests.length = 0;
    expect((await resolveModelReference('acme/tiny', { env, baseDir: root, need: 'tokenizer' })).source).toBe(
      'cache',
    );
    expect(hub.requests).toEqual([]);
    const model = await resolveModelReference('acme/tiny', {
      env,
      baseDir: root,
      need: 'model-and-tokenizer',
    });
    expect(model).toMatchObject({ source: 'download', dir: tokenizerOnly.dir });
    const resolvedFiles = hub.requests
      .filter((request) => request.url.includes('/resolve/'))
      .map((request) => request.url.split('/').at(-1));
    expect([...new Set(resolvedFiles)]).toEqual(['model.safetensors']);
    const noTokenizer = await rejection(
      resolveModelReference('acme/pickle-only', { env, baseDir: root, need: 'tokenizer' }),
    );
    expect(noTokenizer.code).toBe('HUB_NO_TOKENIZER');
  });

  it('HF_TOKEN goes as a Bearer token to the Hub only, never to the CDN, and is never printed', async () => {
    const lines: string[] = [];
    const logger = createConsoleLogger({ level: 'debug', write: (line) => lines.push(line) });
    const events: ProgressEvent[] = [];
    const resolved = await resolveModelReference('acme/private', {
      env: { ...env, HF_TOKEN: TOKEN },
      baseDir: root,
      logger,
      onProgress: (event) => events.push(event),
    });
    expect(resolved.source).toBe('download');
    const hubRequests = hub.requests.filter((request) => request.server === 'hub');
    expect(hubRequests.length).toBeGreaterThan(0);
    expect(hubRequests.every((request) => request.authorization === `Bearer ${TOKEN}`)).toBe(true);
    const cdnRequests = hub.requests.filter((request) => request.server === 'cdn');
    expect(cdnRequests.length).toBeGreaterThan(0);
    expect(cdnRequests.every((request) => request.authorization === undefined)).toBe(true);
    expect(JSON.stringify([lines, events])).not.toContain(TOKEN);
  });

  it('refusals are coded errors saying what to do, and never carry the token', async () => {
    const anonymous = await rejection(resolveModelReference('acme/private', { env, baseDir: root }));
    expect(anonymous.code).toBe('HUB_REPO_NOT_FOUND');
    expect(anonymous.status).toBe(401);
    expect(anonymous.message).toMatch(/HF_TOKEN/);

    const withToken = { ...env, HF_TOKEN: TOKEN };
    const missing = await rejection(resolveModelReference('models/pivot', { env: withToken, baseDir: root }));
    expect(missing.code).toBe('HUB_REPO_NOT_FOUND');
    expect(missing.status).toBe(404);
    // A mistyped relative path reads as one: where it looked on disk, and on the Hub.
    expect(missing.message).toContain(join(root, 'models', 'pivot'));
    expect(missing.message).toContain(hub.endpoint);

    const gatedAnonymous = await rejection(resolveModelReference('acme/gated', { env, baseDir: root }));
    expect(gatedAnonymous).toMatchObject({ code: 'HUB_GATED_REPO', status: 401 });
    expect(gatedAnonymous.message).toContain(`${hub.endpoint}/acme/gated`);
    const gatedNotGranted = await rejection(
      resolveModelReference('acme/gated', { env: { ...env, HF_TOKEN: 'hf_other' }, baseDir: root }),
    );
    expect(gatedNotGranted).toMatchObject({ code: 'HUB_GATED_REPO', status: 403 });
    expect((await resolveModelReference('acme/gated', { env: withToken, baseDir: root })).source).toBe(
      'download',
    );

    const badToken = 'hf_RevokedToken999';
    const denied = await rejection(
      resolveModelReference('acme/tiny', { env: { ...env, HF_TOKEN: badToken }, baseDir: root }),
    );
    expect(denied).toMatchObject({ code: 'HUB_ACCESS_DENIED', status: 401 });

    const revision = await rejection(
      resolveModelReference('acme/tiny@no-such-branch', { env: withToken, baseDir: root }),
    );
    expect(revision).toMatchObject({ code: 'HUB_REVISION_NOT_FOUND', status: 404 });

    const pickle = await rejection(resolveModelReference('acme/pickle-only', { env, baseDir: root }));
    expect(pickle.code).toBe('HUB_NO_SAFETENSORS');
    expect(pickle.message).toContain('pytorch_model.bin');

    for (const error of [anonymous, missing, gatedAnonymous, gatedNotGranted, denied, revision, pickle]) {
      expect(everythingPrintable(error)).not.toContain(TOKEN);
      expect(everythingPrintable(error)).not.toContain(badToken);
      expect(everythingPrintable(error)).not.toContain('hf_other');
    }
  });

  it('no network: HUB_DOWNLOAD_FAILED still says which local path was looked at', async () => {
    const error = await rejection(
      resolveModelReference('models/pivot', {
        env: { ...env, HF_ENDPOINT: 'http://127.0.0.1:9' },
        baseDir: root,
        retries: 0,
      }),
    );
    expect(error.code).toBe('HUB_DOWNLOAD_FAILED');
    expect(error.message).toContain(join(root, 'models', 'pivot'));
    expect(error.message).toContain('HF_HUB_OFFLINE=1');
  });

  it('HF_HUB_OFFLINE=1 sends no request at all', async () => {
    const error = await rejection(
      resolveModelReference('acme/tiny', { env: { ...env, HF_HUB_OFFLINE: '1' }, baseDir: root }),
    );
    expect(error.code).toBe('HUB_NOT_CACHED');
    expect(error.message).toContain(folder('acme/tiny'));
    expect(hub.requests).toEqual([]);
  });

  it('an interrupted download leaves no complete-looking snapshot and no ref; the next run resumes the blob', async () => {
    hub.cutOnce('model.safetensors', 5000);
    const error = await rejection(resolveModelReference('acme/tiny', { env, baseDir: root, retries: 0 }));
    expect(error.code).toBe('HUB_DOWNLOAD_FAILED');
    const snapshot = join(folder('acme/tiny'), 'snapshots', MAIN);
    expect(await missingModelFiles(snapshot)).toEqual(['config.json', 'model.safetensors']);
    expect(existsSync(join(folder('acme/tiny'), 'refs', 'main'))).toBe(false);
    const partial = join(folder('acme/tiny'), 'blobs', `${etagOf(weights)}.incomplete`);
    expect(lstatSync(partial).size).toBe(5000);
    // Offline, the half-done snapshot is refused rather than loaded.
    expect(
      (
        await rejection(
          resolveModelReference('acme/tiny', { env: { ...env, HF_HUB_OFFLINE: '1' }, baseDir: root }),
        )
      ).code,
    ).toBe('HUB_NOT_CACHED');

    hub.requests.length = 0;
    const resolved = await resolveModelReference('acme/tiny', { env, baseDir: root });
    expect(resolved.source).toBe('download');
    expect(new Uint8Array(readFileSync(join(resolved.dir, 'model.safetensors')))).toEqual(weights.content);
    expect(existsSync(partial)).toBe(false);
    const ranges = hub.requests.filter((request) => request.server === 'cdn').map((request) => request.range);
    expect(ranges).toContain(`bytes=5000-${weights.content.byteLength - 1}`);
  });

  it('retries a dropped connection (logged once) and finishes in the same call', async () => {
    hub.cutOnce('model.safetensors', 1000);
    const lines: string[] = [];
    const resolved = await resolveModelReference('acme/tiny', {
      env,
      baseDir: root,
      retries: 2,
      retryDelayMs: 0,
      logger: createConsoleLogger({ write: (line) => lines.push(line) }),
    });
    expect(new Uint8Array(readFileSync(join(resolved.dir, 'model.safetensors')))).toEqual(weights.content);
    expect(lines.filter((line) => line.includes('retrying'))).toHaveLength(1);
  });

  it('content that does not match its sha256 is discarded: HUB_DOWNLOAD_CORRUPT', async () => {
    const tampered = weights.content.slice();
    tampered[100] = (tampered[100] ?? 0) ^ 0xff;
    hub.corrupt('model.safetensors', tampered);
    const error = await rejection(
      resolveModelReference('acme/tiny', { env, baseDir: root, retries: 1, retryDelayMs: 0 }),
    );
    expect(error.code).toBe('HUB_DOWNLOAD_CORRUPT');
    expect(
      readdirSync(join(folder('acme/tiny'), 'blobs')).some((name) => name.startsWith(etagOf(weights))),
    ).toBe(false);
  });
});
