// A real SIGKILL of a capturing process at several points, then a rerun: the store must come out
// byte-identical to an uninterrupted capture's.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';
import { runSourceChild } from '../../../scripts/run-source-child.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const packageDir = join(here, '..');
const child = join(here, 'testing', 'capture-child.ts');
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
  const result = await runSourceChild(child, [dir, killAfter === undefined ? '0' : '40'], {
    cwd: packageDir,
    killWhen: (stdout) =>
      killAfter !== undefined &&
      [...stdout.matchAll(/completed (\d+)/g)].some((match) => Number(match[1]) >= killAfter),
  });
  if (killAfter === undefined && result.code !== 0)
    throw new Error(`capture child failed (${result.code}): ${result.stderr}`);
  return result.stdout;
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
