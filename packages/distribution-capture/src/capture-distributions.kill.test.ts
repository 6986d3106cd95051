// A real SIGKILL of a capturing process at several points, then a rerun: the store must come out
// byte-identical to an uninterrupted capture's.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, it } from 'vitest';
import { runSourceChild } from '../../../scripts/run-source-child.mjs';
import { expectKillResumeIdentical } from './testing/kill-resume.js';

const here = dirname(fileURLToPath(import.meta.url));
const packageDir = join(here, '..');
const child = join(here, 'testing', 'capture-child.ts');
const root = mkdtempSync(join(tmpdir(), 'fusechat-capture-kill-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

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
  await expectKillResumeIdentical({ root, killPoints: [3, 9, 15, 20], run: runChild });
}, 180_000);
