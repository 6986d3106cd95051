import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  acquireOutputLock,
  commitOutputDirectory,
  outputDirectoryProblems,
  removeStalePartials,
} from './output-directory.js';

const root = mkdtempSync(join(tmpdir(), 'fusechat-output-dir-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const codes = async (out: string, options: Parameters<typeof outputDirectoryProblems>[1]) =>
  (await outputDirectoryProblems(out, options)).map((problem) => problem.code);

/** A pid that does not run: a child that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '0']);
  await new Promise((done) => child.on('exit', done));
  return child.pid!;
}

describe('outputDirectoryProblems', () => {
  const models = join(root, 'models');
  const pivot = join(models, 'pivot');
  mkdirSync(pivot, { recursive: true });

  it('refuses an output that is, contains or lies inside an input, also through a symlink', async () => {
    expect(await codes(pivot, { inputs: [pivot], overwrite: true, cwd: root })).toEqual([
      'OUTPUT_OVERLAPS_INPUT',
    ]);
    expect(await codes(models, { inputs: [pivot], overwrite: true, cwd: root })).toEqual([
      'OUTPUT_OVERLAPS_INPUT',
    ]);
    expect(await codes(join(pivot, 'merged'), { inputs: [pivot], cwd: root })).toEqual([
      'OUTPUT_OVERLAPS_INPUT',
    ]);
    symlinkSync(pivot, join(root, 'link'));
    expect(await codes(join(root, 'link'), { inputs: [pivot], overwrite: true, cwd: root })).toEqual([
      'OUTPUT_OVERLAPS_INPUT',
    ]);
    // A sibling whose name starts like the input is not inside it.
    expect(await codes(join(models, 'pivot-merged'), { inputs: [pivot], cwd: root })).toEqual([]);
    expect(await codes('relative-out', { inputs: ['models/pivot'], cwd: root })).toEqual([]);
  });

  it('refuses the working directory and its ancestors, not a new directory inside it', async () => {
    expect(await codes('.', { overwrite: true, cwd: pivot })).toEqual(['OUTPUT_CONTAINS_WORKING_DIRECTORY']);
    expect(await codes('..', { overwrite: true, cwd: pivot })).toEqual(['OUTPUT_CONTAINS_WORKING_DIRECTORY']);
    expect(await codes('fresh', { cwd: pivot })).toEqual([]);
  });

  it('names an existing output, a file parent and a file output', async () => {
    expect(await codes(pivot, { cwd: root })).toEqual(['OUTPUT_EXISTS']);
    expect(await codes(pivot, { cwd: root, overwrite: true })).toEqual([]);
    writeFileSync(join(root, 'a-file'), 'x');
    expect(await codes(join(root, 'a-file', 'out'), { cwd: root })).toEqual([
      'OUTPUT_PARENT_NOT_A_DIRECTORY',
    ]);
    expect(await codes(join(root, 'a-file', 'deeper', 'out'), { cwd: root })).toEqual([
      'OUTPUT_PARENT_NOT_A_DIRECTORY',
    ]);
    expect(await codes(join(root, 'a-file'), { cwd: root, overwrite: true })).toEqual([
      'OUTPUT_NOT_A_DIRECTORY',
    ]);
  });
});

describe('acquireOutputLock', () => {
  it('lets one writer in, refuses a second one naming the holder, and frees on release', async () => {
    const out = join(root, 'locked', 'merged');
    const lock = await acquireOutputLock(out);
    await expect(acquireOutputLock(out)).rejects.toMatchObject({
      code: 'OUTPUT_LOCKED',
      message: expect.stringContaining(`pid ${process.pid}`),
    });
    await lock.release();
    const again = await acquireOutputLock(out);
    await again.release();
    expect(readdirSync(join(root, 'locked'))).toEqual([]);
  });

  it('refuses a lock held by another live process and takes over one of a dead process', async () => {
    const out = join(root, 'other', 'merged');
    mkdirSync(join(root, 'other'));
    const lockFile = join(root, 'other', '.merged.lock');
    const { hostname } = await import('node:os');
    writeFileSync(lockFile, JSON.stringify({ pid: process.ppid, host: hostname() }));
    await expect(acquireOutputLock(out)).rejects.toMatchObject({ code: 'OUTPUT_LOCKED' });
    writeFileSync(lockFile, JSON.stringify({ pid: await deadPid(), host: hostname() }));
    const lock = await acquireOutputLock(out);
    await lock.release();
    expect(existsSync(lockFile)).toBe(false);
  });
});

describe('removeStalePartials and commitOutputDirectory', () => {
  it('removes partial outputs of dead processes only, and replaces an output whole', async () => {
    const dir = join(root, 'partials');
    const out = join(dir, 'merged');
    const dead = await deadPid();
    mkdirSync(join(dir, `merged.partial-${dead}`), { recursive: true });
    mkdirSync(join(dir, `merged.partial-${process.ppid}`));
    mkdirSync(join(dir, 'merged.partial-notapid'));
    expect(await removeStalePartials(out)).toEqual([join(dir, `merged.partial-${dead}`)]);
    expect(readdirSync(dir).sort()).toEqual([`merged.partial-${process.ppid}`, 'merged.partial-notapid']);

    mkdirSync(join(dir, 'new1'));
    writeFileSync(join(dir, 'new1', 'weights'), 'one');
    await commitOutputDirectory(join(dir, 'new1'), out);
    mkdirSync(join(dir, 'new2'));
    writeFileSync(join(dir, 'new2', 'weights'), 'two');
    await commitOutputDirectory(join(dir, 'new2'), out);
    expect(readdirSync(out)).toEqual(['weights']);
    expect(readdirSync(dir).filter((name) => name.startsWith('merged.replaced'))).toEqual([]);
  });
});

describe('an unwritable output parent', () => {
  it('is OUTPUT_NOT_WRITABLE (a read-only mount as root, a 0555 directory otherwise)', async (context) => {
    const parent = join(root, 'readonly');
    mkdirSync(parent);
    const { execFileSync } = await import('node:child_process');
    const { chmodSync } = await import('node:fs');
    const asRoot = process.getuid?.() === 0;
    if (asRoot) {
      try {
        execFileSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', parent], { stdio: 'ignore' });
      } catch {
        context.skip('root without the right to mount: no way to make a directory unwritable here');
      }
    } else chmodSync(parent, 0o555);
    try {
      expect(await codes(join(parent, 'merged'), { cwd: root })).toEqual(['OUTPUT_NOT_WRITABLE']);
      expect(await codes(join(parent, 'a', 'b', 'merged'), { cwd: root })).toEqual(['OUTPUT_NOT_WRITABLE']);
    } finally {
      if (asRoot) execFileSync('umount', [parent]);
      else chmodSync(parent, 0o755);
    }
  });
});
