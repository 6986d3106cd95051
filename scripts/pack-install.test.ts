// What users do once the packages are published: `pnpm pack` every publishable package, install
// the tarballs into a fresh npm project outside the repository with plain `npm install` (npm
// `overrides` map every @fusechat/* dependency to its tarball, so nothing of ours comes from the
// registry; third-party packages do), then run the CLI and import the libraries there.
import { execFileSync, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeTinyFamily } from '../examples/merge-only/src/tiny-checkpoints.js';
import { buildCliUnlocked, repoRoot, userEnv, withBuildLock } from './test-support/build-cli.js';
import { extractFencedBlocks } from './test-support/markdown-blocks.js';

interface PackageJson {
  name: string;
  version: string;
  private?: boolean;
  bin?: Record<string, string>;
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
}

const readJson = (file: string): PackageJson => JSON.parse(readFileSync(file, 'utf8'));

const publishable = readdirSync(join(repoRoot, 'packages'))
  .map((dir) => ({
    dir: join(repoRoot, 'packages', dir),
    manifest: readJson(join(repoRoot, 'packages', dir, 'package.json')),
  }))
  .filter(({ manifest }) => !manifest.private);

/**
 * Packages whose CommonJS entry cannot be required today, with the error code and why; the test
 * fails when this list is wrong in either direction. Fix the package, then empty the entry.
 */
const KNOWN_REQUIRE_FAILURES: Record<string, { code: string; why: string }> = {};

let scratch = '';
let project = '';
const tarballs = new Map<string, string>(); // package name → tarball path

function run(command: string, args: string[], cwd = project) {
  const result = spawnSync(command, args, { cwd, env: userEnv(), encoding: 'utf8', timeout: 600_000 });
  return { code: result.status, stdout: result.stdout ?? '', stderr: result.stderr ?? '' };
}

beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'fusechat-pack-install-'));
  const packDir = join(scratch, 'tarballs');
  mkdirSync(packDir);
  const pnpm = join(repoRoot, 'node_modules', '.bin', 'pnpm');
  // Build and pack under the lock: a build elsewhere would empty dist/ while it is packed.
  const started = Date.now();
  const phase = (name: string, since: number) =>
    console.error(`[pack-install] ${name}: ${((Date.now() - since) / 1000).toFixed(1)} s`);
  withBuildLock(() => {
    const buildStarted = Date.now();
    buildCliUnlocked();
    phase('build (turbo, only what is stale)', buildStarted);
    const packStarted = Date.now();
    for (const { dir, manifest } of publishable) {
      const before = new Set(readdirSync(packDir));
      execFileSync(pnpm, ['pack', '--pack-destination', packDir], { cwd: dir, stdio: 'pipe' });
      const created = readdirSync(packDir).filter((file) => !before.has(file));
      expect(created, `pnpm pack of ${manifest.name}`).toHaveLength(1);
      tarballs.set(manifest.name, join(packDir, created[0] as string));
    }
    phase(`pnpm pack of ${tarballs.size} packages`, packStarted);
  });
  project = join(scratch, 'app');
  mkdirSync(project);
  const deps = Object.fromEntries([...tarballs].map(([name, file]) => [name, `file:${file}`]));
  writeFileSync(
    join(project, 'package.json'),
    `${JSON.stringify({ name: 'fusechat-user-app', version: '1.0.0', private: true, dependencies: deps, overrides: deps }, null, 2)}\n`,
  );
  const installStarted = Date.now();
  const install = run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error']);
  if (install.code !== 0) throw new Error(`npm install failed:\n${install.stdout}\n${install.stderr}`);
  phase('npm install', installStarted);
  phase('setup in all', started);
}, 900_000);

afterAll(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

describe('packed tarballs installed with npm outside the repository', () => {
  it('rewrites every workspace: range to the real version', () => {
    const versions = new Map(publishable.map(({ manifest }) => [manifest.name, manifest.version]));
    for (const [name, file] of tarballs) {
      const packed: PackageJson = JSON.parse(
        execFileSync('tar', ['-xzOf', file, 'package/package.json'], { encoding: 'utf8' }),
      );
      for (const field of ['dependencies', 'peerDependencies', 'optionalDependencies'] as const) {
        for (const [dep, range] of Object.entries(packed[field] ?? {})) {
          expect(range, `${name} ${field}.${dep}`).not.toMatch(/^workspace:/);
          if (versions.has(dep)) expect(range, `${name} ${field}.${dep}`).toBe(versions.get(dep));
        }
      }
    }
  });

  it('installs our packages from the tarballs, not from the registry', () => {
    for (const name of tarballs.keys()) {
      const installed = join(project, 'node_modules', ...name.split('/'));
      expect(existsSync(join(installed, 'package.json')), name).toBe(true);
      expect(existsSync(join(installed, 'dist')), `${name}/dist`).toBe(true);
    }
    const lock = JSON.parse(readFileSync(join(project, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { resolved?: string }>;
    };
    for (const [path, entry] of Object.entries(lock.packages)) {
      if (!path.includes('node_modules/@fusechat/')) continue;
      expect(entry.resolved ?? '', path).toMatch(/^file:/);
    }
  });

  it('npx fusechat --help lists the commands', () => {
    const help = run('npx', ['fusechat', '--help']);
    expect(help.code, help.stderr).toBe(0);
    for (const command of ['demo', 'capture', 'align', 'store', 'train', 'merge', 'eval', 'generate'])
      expect(help.stdout).toContain(command);
  });

  it('npx fusechat merge merges two tiny checkpoints against a pivot', async () => {
    await writeTinyFamily(project, { seed: 3 });
    writeFileSync(
      join(project, 'varm.yml'),
      'merge_method: variation_ratio\nbase_model: ./pivot\nmodels:\n  - model: ./target-a\n  - model: ./target-b\ndtype: float32\n',
    );
    const merged = run('npx', ['fusechat', 'merge', 'varm.yml', '--out', 'fused-cli']);
    expect(merged.code, merged.stderr).toBe(0);
    expect(existsSync(join(project, 'fused-cli', 'model.safetensors'))).toBe(true);
    expect(JSON.parse(readFileSync(join(project, 'fused-cli', 'config.json'), 'utf8')).model_type).toBe(
      'llama',
    );
  });

  it('runs the "first merge in five lines" snippet of docs/getting-started.md as an .mjs file', () => {
    const snippet = extractFencedBlocks(
      readFileSync(join(repoRoot, 'docs', 'getting-started.md'), 'utf8'),
    ).find((block) => block.lang === 'ts' && block.code.includes("from '@fusechat/merge'"));
    expect(snippet, 'the snippet in docs/getting-started.md').toBeDefined();
    writeFileSync(
      join(project, 'varm.yml'),
      'merge_method: variation_ratio\nbase_model: ./pivot\nmodels:\n  - model: ./target-a\n  - model: ./target-b\ndtype: bfloat16\n',
    );
    writeFileSync(join(project, 'first-merge.mjs'), snippet?.code ?? '');
    const result = run(process.execPath, ['first-merge.mjs']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/tensors merged into/);
    expect(existsSync(join(project, 'fused-model', 'model.safetensors'))).toBe(true);
  });

  it('imports every package with ESM import and CommonJS require', () => {
    const names = [...tarballs.keys()];
    // Each package alone, so one failure names its package: `{ name: export count | error }`.
    const probe = (load: string) =>
      `const results = {};\n` +
      `for (const name of ${JSON.stringify(names)}) {\n` +
      `  try { results[name] = Object.keys(${load}).length; }\n` +
      `  catch (error) { results[name] = String(error.code ?? error.message).split('\\n')[0]; }\n` +
      `}\n` +
      `console.log(JSON.stringify(results));\n`;
    writeFileSync(join(project, 'import-all.mjs'), probe('await import(name)'));
    writeFileSync(join(project, 'require-all.cjs'), probe('require(name)'));
    writeFileSync(
      join(project, 'merge-both.mjs'),
      "import { mergeModels } from '@fusechat/merge';\nimport { createRequire } from 'node:module';\n" +
        "const required = createRequire(import.meta.url)('@fusechat/merge');\n" +
        'console.log(typeof mergeModels, typeof required.mergeModels);\n',
    );
    const both = run(process.execPath, ['merge-both.mjs']);
    expect(both.code, both.stderr).toBe(0);
    expect(both.stdout.trim()).toBe('function function');

    for (const [file, knownFailures] of [
      ['import-all.mjs', {}],
      ['require-all.cjs', KNOWN_REQUIRE_FAILURES],
    ] as const) {
      const result = run(process.execPath, [file]);
      expect(result.code, result.stderr).toBe(0);
      const loaded = JSON.parse(result.stdout) as Record<string, number | string>;
      const failed = Object.fromEntries(
        Object.entries(loaded).filter(([, value]) => typeof value === 'string'),
      );
      // A known failure that starts working fails this too: then take it off the list.
      expect(failed, `${file}: packages that do not load`).toEqual(
        Object.fromEntries(Object.entries(knownFailures).map(([name, known]) => [name, known.code])),
      );
      for (const [name, value] of Object.entries(loaded))
        if (typeof value === 'number') expect(value, `${name}: exports`).toBeGreaterThan(0);
    }
  });
});
