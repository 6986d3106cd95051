import { constants, existsSync, realpathSync, unlinkSync } from 'node:fs';
import { access, mkdir, open, readdir, readFile, rename, rm, stat, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { FuseChatError } from '../errors.js';

/** One reason an output directory cannot be used, for a preflight that lists every problem. */
export interface OutputProblem {
  readonly code: string;
  readonly message: string;
}

/** Options of {@link outputDirectoryProblems}. */
export interface OutputDirectoryCheck {
  /** Directories and files the command reads: the output may not be, contain or lie inside one. */
  readonly inputs?: readonly string[];
  /** Replace an existing output (default false: an existing output is a problem). */
  readonly overwrite?: boolean;
  /** The working directory (default `process.cwd()`): the output may not be it or contain it. */
  readonly cwd?: string;
  /** The option that names the output, for messages (default `--out`). */
  readonly option?: string;
}

/**
 * Everything that makes `out` unusable as a command's output directory, checked before any work:
 * it is, contains or lies inside an input; it is or contains the working directory (which
 * `--overwrite` would delete); it exists and `overwrite` is off; an ancestor is a file; the
 * nearest existing ancestor is not writable. Missing ancestors are fine (they are created).
 *
 * @example
 * ```ts
 * const problems = await outputDirectoryProblems('merged', { inputs: ['models/a', 'models/b'] });
 * if (problems.length > 0) throw new InvalidInputError(problems.map((p) => p.message).join('\n'));
 * ```
 */
export async function outputDirectoryProblems(
  out: string,
  options: OutputDirectoryCheck = {},
): Promise<OutputProblem[]> {
  const option = options.option ?? '--out';
  const cwd = resolve(options.cwd ?? process.cwd());
  const target = canonical(resolve(cwd, out));
  const problems: OutputProblem[] = [];
  const here = canonical(cwd);
  if (target === here || isInside(here, target)) {
    problems.push({
      code: 'OUTPUT_CONTAINS_WORKING_DIRECTORY',
      message: `${option} ${out} ${target === here ? 'is' : 'contains'} the working directory ${cwd}; replacing it would delete unrelated files. Choose a new directory.`,
    });
  }
  for (const input of options.inputs ?? []) {
    const source = canonical(resolve(cwd, input));
    const relation =
      source === target
        ? 'is'
        : isInside(source, target)
          ? 'contains'
          : isInside(target, source)
            ? 'lies inside'
            : undefined;
    if (relation !== undefined) {
      problems.push({
        code: 'OUTPUT_OVERLAPS_INPUT',
        message: `${option} ${out} ${relation} the input ${input}; writing it would destroy what is being read. Choose a directory outside every input.`,
      });
    }
  }
  // The nearest existing ancestor must be a directory we can write into.
  let ancestor = dirname(target);
  while (!existsSync(ancestor) && dirname(ancestor) !== ancestor) ancestor = dirname(ancestor);
  const ancestorStats = await stat(ancestor).catch(() => undefined);
  if (ancestorStats !== undefined && !ancestorStats.isDirectory()) {
    problems.push({
      code: 'OUTPUT_PARENT_NOT_A_DIRECTORY',
      message: `${option} ${out}: ${ancestor} is a file, not a directory, so nothing can be created below it.`,
    });
  } else if (ancestorStats !== undefined) {
    const writable = await access(ancestor, constants.W_OK | constants.X_OK).then(
      () => true,
      () => false,
    );
    if (!writable) {
      problems.push({
        code: 'OUTPUT_NOT_WRITABLE',
        message: `${option} ${out}: ${ancestor} is not writable (permission denied); choose a directory you can write to.`,
      });
    }
  }
  const existing = await stat(target).catch(() => undefined);
  if (existing !== undefined && !existing.isDirectory()) {
    problems.push({
      code: 'OUTPUT_NOT_A_DIRECTORY',
      message: `${option} ${out} exists and is a file, not a directory.`,
    });
  } else if (existing !== undefined && !options.overwrite) {
    problems.push({
      code: 'OUTPUT_EXISTS',
      message: `${option} ${out} already exists; choose another directory or pass --overwrite to replace it.`,
    });
  }
  return problems;
}

/** A held lock on an output directory; {@link OutputLock.release} frees it. */
export interface OutputLock {
  /** The lock file (`.<name>.lock` beside the output). */
  readonly path: string;
  release(): Promise<void>;
}

/**
 * Takes an exclusive lock on `out` for the duration of a command, as a file `.<name>.lock`
 * beside it created with `O_EXCL` and holding this process's id and host. A second writer of the
 * same output fails with `OUTPUT_LOCKED` naming the holder; a lock left by a process that no
 * longer runs (same host) is taken over. Missing parent directories are created. The lock is
 * released by {@link OutputLock.release} and, as a last resort, when the process exits.
 *
 * @example
 * ```ts
 * const lock = await acquireOutputLock('merged');
 * try { await work(); } finally { await lock.release(); }
 * ```
 */
export async function acquireOutputLock(out: string): Promise<OutputLock> {
  const target = resolve(out);
  const path = join(dirname(target), `.${basename(target)}.lock`);
  try {
    await mkdir(dirname(target), { recursive: true });
  } catch (error) {
    const errno = (error as NodeJS.ErrnoException).code;
    if (errno === 'EEXIST' || errno === 'ENOTDIR') {
      throw new FuseChatError(
        'OUTPUT_PARENT_NOT_A_DIRECTORY',
        `${out}: a file stands where a parent directory of it should be, so nothing can be created there.`,
        { cause: error, details: { path: target } },
      );
    }
    throw lockError(error, path);
  }
  const content = `${JSON.stringify({ pid: process.pid, host: hostname() })}\n`;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(path, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o644);
      try {
        await handle.writeFile(content);
      } finally {
        await handle.close();
      }
      let released = false;
      const onExit = () => {
        if (!released) {
          try {
            // Synchronous at exit: the event loop is gone.
            unlinkSync(path);
          } catch {}
        }
      };
      process.once('exit', onExit);
      return {
        path,
        async release() {
          if (released) return;
          released = true;
          process.removeListener('exit', onExit);
          await unlink(path).catch(() => {});
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw lockError(error, path);
      const holder = await readHolder(path);
      if (holder !== undefined && !isAlive(holder)) {
        // A dead process's lock: take it over (once; a live racer wins the retry).
        await unlink(path).catch(() => {});
        continue;
      }
      throw new FuseChatError(
        'OUTPUT_LOCKED',
        `${out} is being written by another fusechat process${holder === undefined ? '' : ` (pid ${holder.pid} on ${holder.host})`}; wait for it to finish or choose another output. If no such process runs, delete ${path}.`,
        { details: { path, holder } },
      );
    }
  }
  throw new FuseChatError('OUTPUT_LOCKED', `Could not take the lock ${path} for ${out}.`, {
    details: { path },
  });
}

/**
 * Removes `<out>.partial-<pid>` directories (the temporary output of an interrupted command)
 * whose process no longer runs; returns the removed paths. Partial outputs of live processes
 * are left alone (they hold the output's lock).
 */
export async function removeStalePartials(out: string): Promise<string[]> {
  const target = resolve(out);
  const prefix = `${basename(target)}.partial-`;
  const entries = await readdir(dirname(target), { withFileTypes: true }).catch(() => []);
  const removed: string[] = [];
  for (const entry of entries) {
    if (!entry.isDirectory() || !entry.name.startsWith(prefix)) continue;
    const pid = Number(entry.name.slice(prefix.length));
    if (!Number.isSafeInteger(pid) || pid <= 0 || (pid !== process.pid && isAlive({ pid, host: hostname() })))
      continue;
    const path = join(dirname(target), entry.name);
    await rm(path, { recursive: true, force: true });
    removed.push(path);
  }
  return removed;
}

/**
 * Moves a finished temporary directory onto `out`: a plain rename when `out` does not exist;
 * otherwise the old output is set aside (`<out>.replaced-<pid>`), the new one renamed in, and
 * the old one deleted — so a crash at any point leaves either the old or the new output whole.
 */
export async function commitOutputDirectory(temp: string, out: string): Promise<void> {
  if (!existsSync(out)) {
    await rename(temp, out);
    return;
  }
  const previous = `${out}.replaced-${process.pid}`;
  await rename(out, previous);
  try {
    await rename(temp, out);
  } catch (error) {
    await rename(previous, out).catch(() => undefined);
    throw error;
  }
  await rm(previous, { recursive: true, force: true });
}

function canonical(path: string): string {
  // Resolve symlinks of the longest existing prefix, so `out` via a symlink is still seen.
  let existing = path;
  const rest: string[] = [];
  while (!existsSync(existing) && dirname(existing) !== existing) {
    rest.unshift(basename(existing));
    existing = dirname(existing);
  }
  try {
    return join(realpathSync(existing), ...rest);
  } catch {
    return path;
  }
}

/** `inner` lies strictly inside `outer`. */
function isInside(inner: string, outer: string): boolean {
  const path = relative(outer, inner);
  return path !== '' && path !== '..' && !path.startsWith(`..${sep}`) && !isAbsolute(path);
}

interface LockHolder {
  readonly pid: number;
  readonly host: string;
}

async function readHolder(path: string): Promise<LockHolder | undefined> {
  try {
    const value = JSON.parse(await readFile(path, 'utf8')) as Partial<LockHolder>;
    return typeof value.pid === 'number' && typeof value.host === 'string'
      ? { pid: value.pid, host: value.host }
      : undefined;
  } catch {
    return undefined;
  }
}

/** A process on this host still runs (locks from other hosts are assumed alive). */
function isAlive(holder: LockHolder): boolean {
  if (holder.host !== hostname()) return true;
  try {
    process.kill(holder.pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function lockError(error: unknown, path: string): FuseChatError {
  const errno = (error as NodeJS.ErrnoException).code;
  return new FuseChatError(
    errno === 'EACCES' || errno === 'EPERM' || errno === 'EROFS' ? 'OUTPUT_NOT_WRITABLE' : 'OUTPUT_IO_ERROR',
    `Cannot create the lock ${path}: ${(error as Error).message}`,
    { cause: error, details: { path, errno } },
  );
}
