import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeSafetensors } from '@fusechat/safetensors';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { writeHfCache } from '../../../hub/src/test-support/hf-cache-fixture.js';
import { runCli } from '../run-cli.js';
import { parseByteSize } from './merge.js';

const NAMES = [
  'model.embed_tokens.weight',
  'model.layers.0.mlp.up_proj.weight',
  'model.layers.1.mlp.up_proj.weight',
  'model.norm.weight',
];

async function writeModel(dir: string, offset: number) {
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'config.json'),
    JSON.stringify({ model_type: 'llama', num_hidden_layers: 2, vocab_size: 4 }),
  );
  writeFileSync(join(dir, 'tokenizer.json'), '{"model":{}}');
  await writeSafetensors(
    join(dir, 'model.safetensors'),
    NAMES.map((name, index) => ({
      name,
      dtype: 'F32' as const,
      shape: [4, 2],
      data: Float32Array.from({ length: 8 }, (_, i) => index + i / 10 + offset * (i % 3) * 0.01),
    })),
  );
}

function captureStderr() {
  const lines: string[] = [];
  const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    lines.push(String(chunk));
    return true;
  });
  return { lines, restore: () => spy.mockRestore() };
}

describe('fusechat merge', () => {
  let root: string;
  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'fusechat-cli-merge-'));
    await writeModel(join(root, 'pivot'), 0);
    await writeModel(join(root, 'a'), 1);
    await writeModel(join(root, 'b'), 3);
    writeFileSync(
      join(root, 'varm.yml'),
      [
        'merge_method: variation_ratio',
        `base_model: ${join(root, 'pivot')}`,
        'models:',
        `  - model: ${join(root, 'a')}`,
        `  - model: ${join(root, 'b')}`,
        '',
      ].join('\n'),
    );
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('merges a config into --out with a progress line, and refuses to overwrite without --overwrite', async () => {
    const out = join(root, 'fused');
    const stdout = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const stderr = captureStderr();
    try {
      expect(await runCli(['merge', join(root, 'varm.yml'), '--out', out])).toBe(0);
      expect(stderr.lines.join('')).toMatch(/merge: 4\/4 tensors/);
      expect(String(stdout.mock.calls.at(-1)?.[0])).toMatch(/merged 4 tensors/);
      expect(existsSync(join(out, 'model.safetensors'))).toBe(true);
      expect(JSON.parse(readFileSync(join(out, 'merge-report.json'), 'utf8')).mergeMethod).toBe(
        'variation_ratio',
      );

      stderr.lines.length = 0;
      expect(await runCli(['merge', join(root, 'varm.yml'), '--out', out])).toBe(1);
      expect(stderr.lines.join('')).toMatch(/already exists.*--overwrite/);
      expect(
        await runCli([
          'merge',
          join(root, 'varm.yml'),
          '--out',
          out,
          '--overwrite',
          '--max-shard-size',
          '40B',
        ]),
      ).toBe(0);
      expect(existsSync(join(out, 'model.safetensors.index.json'))).toBe(true);
    } finally {
      stdout.mockRestore();
      stderr.restore();
    }
  });

  it('takes models by Hugging Face id from the HF cache (offline) and merges the same bytes as local paths', async () => {
    const cache = join(root, 'hf-cache');
    const files = (dir: string) =>
      ['config.json', 'tokenizer.json', 'model.safetensors'].map((path) => ({
        path,
        content: readFileSync(join(dir, path)),
        lfs: path.endsWith('.safetensors'),
      }));
    writeHfCache(cache, 'acme/pivot', 'a'.repeat(40), files(join(root, 'pivot')));
    writeHfCache(cache, 'acme/target-a', 'b'.repeat(40), files(join(root, 'a')));
    writeHfCache(cache, 'acme/target-b', 'c'.repeat(40), files(join(root, 'b')));
    writeFileSync(
      join(root, 'varm-ids.yml'),
      'merge_method: variation_ratio\nbase_model: acme/pivot\nmodels:\n  - model: acme/target-a\n  - model: acme/target-b@main\n',
    );
    const env = { HF_HUB_CACHE: process.env.HF_HUB_CACHE, HF_HUB_OFFLINE: process.env.HF_HUB_OFFLINE };
    process.env.HF_HUB_CACHE = cache;
    process.env.HF_HUB_OFFLINE = '1';
    const stderr = captureStderr();
    const stdout = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      expect(await runCli(['merge', join(root, 'varm-ids.yml'), '--out', join(root, 'by-id')])).toBe(0);
      expect(await runCli(['merge', join(root, 'varm.yml'), '--out', join(root, 'by-path')])).toBe(0);
    } finally {
      stderr.restore();
      stdout.mockRestore();
      for (const [key, value] of Object.entries(env)) {
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
    }
    expect(readFileSync(join(root, 'by-id', 'model.safetensors'))).toEqual(
      readFileSync(join(root, 'by-path', 'model.safetensors')),
    );
  });

  it('exits 1 with the list of problems on a bad config', async () => {
    writeFileSync(join(root, 'bad.yml'), `merge_method: tie\nmodels:\n  - model: ${join(root, 'missing')}\n`);
    const stderr = captureStderr();
    try {
      expect(await runCli(['merge', join(root, 'bad.yml'), '--out', join(root, 'never')])).toBe(1);
      const text = stderr.lines.join('');
      expect(text).toMatch(/fusechat: Merge preflight found 2 problems/);
      expect(text).toMatch(/Did you mean "ties"/);
      // It says where it looked (an absolute path here), and that ids are accepted.
      expect(text).toMatch(/missing: no such file or directory \(looked at .*missing\).*Hugging Face id/);
      expect(existsSync(join(root, 'never'))).toBe(false);
      stderr.lines.length = 0;
      expect(await runCli(['merge', join(root, 'nope.yml'), '--out', join(root, 'never')])).toBe(1);
      expect(stderr.lines.join('')).toMatch(/nope\.yml \(the merge config\) does not exist/);
    } finally {
      stderr.restore();
    }
  });

  it('parses shard sizes', () => {
    expect(parseByteSize('5GB')).toBe(5e9);
    expect(parseByteSize('2GiB')).toBe(2 * 2 ** 30);
    expect(parseByteSize('500mb')).toBe(5e8);
    expect(() => parseByteSize('lots')).toThrow(/not a size/);
  });
});
