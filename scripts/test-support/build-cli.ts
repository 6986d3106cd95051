// Test-only: builds `@fusechat/cli` and every package it depends on (all the publishable ones),
// once per test run even when several test files ask at the same time.
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

const lockDir = join(repoRoot, 'node_modules', '.cache', 'fusechat-test-build.lock');
const staleLockMs = 20 * 60_000;

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function takeLock(): void {
  mkdirSync(dirname(lockDir), { recursive: true });
  for (;;) {
    try {
      mkdirSync(lockDir);
      return;
    } catch {
      // Another test file is building; a lock left by a killed run is taken over after a while.
      try {
        if (Date.now() - statSync(lockDir).mtimeMs > staleLockMs)
          rmSync(lockDir, { recursive: true, force: true });
      } catch {}
      sleep(500);
    }
  }
}

/**
 * Runs `node scripts/dev.mjs build --filter=@fusechat/cli...` (turbo: only what is stale) under
 * a lock, so two turbo runs never write the same `dist/` at once. Throws with turbo's output
 * when the build fails.
 */
export function buildCli(): void {
  withBuildLock(buildCliUnlocked);
}

/** Runs `work` while no other test file builds (for work that builds, or reads every `dist/`). */
export function withBuildLock<T>(work: () => T): T {
  takeLock();
  try {
    return work();
  } finally {
    rmSync(lockDir, { recursive: true, force: true });
  }
}

/** {@link buildCli} for a caller that already holds the lock ({@link withBuildLock}). */
export function buildCliUnlocked(): void {
  {
    const result = spawnSync(
      process.execPath,
      [
        join(repoRoot, 'scripts', 'dev.mjs'),
        'build',
        '--filter=@fusechat/cli...',
        '--output-logs=errors-only',
      ],
      { cwd: repoRoot, encoding: 'utf8' },
    );
    if (result.status !== 0)
      throw new Error(`building the packages failed (${result.status}):\n${result.stdout}\n${result.stderr}`);
  }
}

/**
 * The environment of a user's shell: no `npm_*` variables from the `npm test` around us and no
 * directory of this repository on PATH (so `npx fusechat` cannot find the clone's own bin).
 */
export function userEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (key.toLowerCase().startsWith('npm_') || key === 'INIT_CWD' || key === 'NODE_OPTIONS') continue;
    if (key.startsWith('VITEST') || key === 'TEST' || key === 'NODE_ENV') continue;
    env[key] = value;
  }
  env.PATH = (process.env.PATH ?? '')
    .split(':')
    .filter((entry) => entry && !entry.startsWith(repoRoot))
    .join(':');
  return { ...env, ...extra };
}
