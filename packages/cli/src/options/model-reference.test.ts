import { createHash } from 'node:crypto';
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { initBackend } from '@fusechat/backend';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
// Test-only reach into @fusechat/hub's loopback Hub (not part of its published API).
import { type FakeFile, startFakeHub } from '../../../hub/src/test-support/fake-hub.js';
import { runCaptured, saveTinyLlama } from '../test-fixtures.js';
import { resolveConfigModel, resolveModelOption } from './model-reference.js';

const COMMIT = 'f'.repeat(40);
const REPO = 'acme/tiny-llama';

/** Moves a saved model into a Hugging Face cache as huggingface_hub lays it out (sha256-named blobs). */
function cacheModel(modelDir: string, cacheDir: string): string {
  const folder = join(cacheDir, 'models--acme--tiny-llama');
  const snapshot = join(folder, 'snapshots', COMMIT);
  mkdirSync(snapshot, { recursive: true });
  mkdirSync(join(folder, 'blobs'), { recursive: true });
  for (const name of readdirSync(modelDir)) {
    const content = readFileSync(join(modelDir, name));
    const blob = join(folder, 'blobs', createHash('sha256').update(content).digest('hex'));
    writeFileSync(blob, content);
    symlinkSync(relative(snapshot, blob), join(snapshot, name));
  }
  mkdirSync(join(folder, 'refs'), { recursive: true });
  writeFileSync(join(folder, 'refs', 'main'), COMMIT);
  return snapshot;
}

describe('--model ORG/NAME[@revision] on the CLI', () => {
  let root: string;
  let snapshot: string;
  let data: string;
  let savedFiles: FakeFile[];

  beforeAll(async () => {
    await initBackend('cpu', { quiet: true });
    root = mkdtempSync(join(tmpdir(), 'fusechat-cli-model-reference-'));
    const modelDir = join(root, 'saved');
    await saveTinyLlama(modelDir, 3);
    snapshot = cacheModel(modelDir, join(root, 'hf', 'hub'));
    savedFiles = readdirSync(modelDir).map((name) => ({
      path: name,
      content: new Uint8Array(readFileSync(join(modelDir, name))),
      lfs: name.endsWith('.safetensors') || name === 'tokenizer.json',
    }));
    rmSync(modelDir, { recursive: true });
    data = join(root, 'lm.jsonl');
    writeFileSync(
      data,
      `${JSON.stringify({ text: 'The cat sat on the mat.' })}\n${JSON.stringify({ text: 'A dog ran.' })}\n`,
    );
  }, 120_000);
  afterAll(() => {
    if (root) rmSync(root, { recursive: true, force: true });
  });
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('capture loads a model from the Hugging Face cache by id, offline', async () => {
    vi.stubEnv('HF_HOME', join(root, 'hf'));
    vi.stubEnv('HF_HUB_OFFLINE', '1');
    const run = await runCaptured([
      'capture',
      '--model',
      `${REPO}@main`,
      '--data',
      data,
      '--out',
      join(root, 'store'),
      '--top-k',
      '3',
      '--backend',
      'cpu',
      '--json',
    ]);
    expect(run.stderr).toContain(
      `--model ${REPO}@main: from the Hugging Face cache, commit ffffffffffff (${snapshot})`,
    );
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ examples: 2, flagged: 0 });
  });

  it('capture downloads an id from the Hub (HF_ENDPOINT) into the cache, then runs from it', async () => {
    const hub = await startFakeHub({
      repos: [{ repo: 'acme/remote-llama', commits: { [COMMIT]: savedFiles }, refs: { main: COMMIT } }],
    });
    try {
      vi.stubEnv('HF_HOME', join(root, 'hf-download'));
      vi.stubEnv('HF_ENDPOINT', hub.endpoint);
      vi.stubEnv('HF_HUB_OFFLINE', '');
      const args = [
        'capture',
        '--model',
        'acme/remote-llama',
        '--data',
        data,
        '--top-k',
        '3',
        '--backend',
        'cpu',
        '--json',
      ];
      const run = await runCaptured([...args, '--out', join(root, 'store-download')]);
      expect(run.code).toBe(0);
      expect(run.stderr).toContain('--model acme/remote-llama: downloaded, commit ffffffffffff');
      expect(run.stderr).toMatch(/download: \d+\/\d+ bytes 100\.0%/);
      expect(JSON.parse(run.stdout)).toMatchObject({ examples: 2 });
      const seen = hub.requests.length;
      vi.stubEnv('HF_HUB_OFFLINE', '1');
      const again = await runCaptured([...args, '--out', join(root, 'store-cached')]);
      expect(again.code).toBe(0);
      expect(again.stderr).toContain('from the Hugging Face cache');
      expect(hub.requests.length).toBe(seen);
      // Same model, same data: the same captured distributions.
      expect(JSON.parse(again.stdout)).toMatchObject({ examples: 2, tokens: JSON.parse(run.stdout).tokens });
    } finally {
      await hub.close();
    }
  });

  it('a missing id offline exits 1 with HUB_NOT_CACHED and where it looked', async () => {
    vi.stubEnv('HF_HOME', join(root, 'hf'));
    vi.stubEnv('HF_HUB_OFFLINE', '1');
    const run = await runCaptured([
      'capture',
      '--model',
      'acme/absent',
      '--data',
      data,
      '--out',
      join(root, 'x'),
      '--backend',
      'cpu',
    ]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('[HUB_NOT_CACHED]');
    expect(run.stderr).toContain(join(root, 'hf', 'hub', 'models--acme--absent'));
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('the help of capture, align, serve and train says ids work', async () => {
    for (const command of ['capture', 'align', 'serve']) {
      const help = await runCaptured([command, '--help']);
      expect(help.stdout.replace(/\s+/g, ' '), command).toContain('ORG/NAME[@revision]');
    }
    expect((await runCaptured(['train', '--help'])).stdout).toContain('Hugging Face id ORG/NAME[@revision]');
  });

  it('resolveModelOption: local paths as they are; resolveConfigModel reads the id as written, paths against the config', async () => {
    const env = { HF_HOME: join(root, 'hf'), HF_HUB_OFFLINE: '1' };
    const quiet = { info() {}, warn() {}, debug() {}, error() {} };
    expect(await resolveModelOption(root, '--model', { logger: quiet, resolve: { env } })).toEqual({
      dir: root,
      source: 'local',
    });
    const configDir = join(root, 'configs');
    mkdirSync(join(configDir, 'local-model'), { recursive: true });
    const byId = join(configDir, 'by-id.yml');
    writeFileSync(byId, `model_name_or_path: ${REPO}\noutput_dir: out\n`);
    // What a loader that resolves paths against the config directory would have made of it.
    const loaded = join(configDir, REPO);
    expect(
      await resolveConfigModel(byId, 'model_name_or_path', loaded, { logger: quiet, resolve: { env } }),
    ).toBe(snapshot);
    const byPath = join(configDir, 'by-path.yml');
    writeFileSync(byPath, 'model_name_or_path: local-model\n');
    expect(
      await resolveConfigModel(byPath, 'model_name_or_path', join(configDir, 'local-model'), {
        logger: quiet,
        resolve: { env },
      }),
    ).toBe(join(configDir, 'local-model'));
  });
});
