// A real SIGKILL of a capturing process at several points, then a rerun: the store must come out
// byte-identical to an uninterrupted capture's.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';

const here = dirname(fileURLToPath(import.meta.url));
const packageDir = join(here, '..');
const child = join(here, 'testing', 'capture-child.ts');
const hooks = join(packageDir, '..', '..', 'scripts', 'register-source-hooks.mjs');
const root = mkdtempSync(join(tmpdir(), 'fusechat-capture-kill-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function snapshot(dir: string): Record<string, string> {
  return Object.fromEntries(
    readdirSync(dir)
      .sort()
      .map((name) => [name, readFileSync(join(dir, name)).toString('base64')]),
  );
}

/** Runs the child on `dir`; kills it (SIGKILL) once it reports `killAfter` examples, if given. */
async function runChild(dir: string, killAfter?: number): Promise<string> {
  const proc = spawn(
    process.execPath,
    [
      '--conditions=source',
      '--import',
      hooks,
      '--import',
      'tsx',
      child,
      dir,
      killAfter === undefined ? '0' : '40',
    ],
    { cwd: packageDir, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  let errors = '';
  proc.stderr.on('data', (chunk: Buffer) => {
    errors += chunk.toString();
  });
  const closed = new Promise<number | null>((resolve) => proc.on('close', resolve));
  proc.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
    const done = [...output.matchAll(/completed (\d+)/g)].map((match) => Number(match[1]));
    if (killAfter !== undefined && done.some((count) => count >= killAfter)) proc.kill('SIGKILL');
  });
  const code = await closed;
  if (killAfter === undefined && code !== 0) throw new Error(`capture child failed (${code}): ${errors}`);
  return output;
}

it('SIGKILL at several points, then rerun: byte-identical to an uninterrupted capture', async () => {
  const reference = join(root, 'reference');
  expect(await runChild(reference)).toContain('finished resumedFrom 0');
  const resumedFrom: number[] = [];
  for (const killAfter of [3, 9, 15, 20]) {
    const dir = join(root, `killed-${killAfter}`);
    const killed = await runChild(dir, killAfter);
    expect(killed).not.toContain('finished');
    const rerun = await runChild(dir);
    resumedFrom.push(Number(/finished resumedFrom (\d+)/.exec(rerun)![1]));
    expect(snapshot(dir)).toEqual(snapshot(reference));
  }
  // The kills landed at different commit points, not all before the first commit.
  expect(new Set(resumedFrom).size).toBeGreaterThan(2);
}, 180_000);
