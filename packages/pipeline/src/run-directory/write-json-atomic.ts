import { mkdir, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/**
 * Writes `value` as JSON to `path` so a reader sees the old file or the new one, never a torn
 * write: temp file beside it, fsync, rename over, fsync of the directory. Parent directories are
 * created.
 *
 * @example
 * ```ts
 * await writeJsonAtomic('run/capture/pivot/stage.json', manifest);
 * ```
 */
export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  await writeTextAtomic(path, `${JSON.stringify(value, null, 2)}\n`);
}

/** {@link writeJsonAtomic} for text. */
export async function writeTextAtomic(path: string, text: string): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  const temp = join(dir, `.${basename(path)}.tmp-${process.pid}`);
  try {
    const handle = await open(temp, 'w');
    try {
      await handle.writeFile(text);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  // The rename is durable only once the directory entry is.
  const directory = await open(dir, 'r').catch(() => undefined);
  if (directory !== undefined) {
    try {
      await directory.sync();
    } catch {
      // Some file systems refuse fsync on directories; the rename is still atomic.
    } finally {
      await directory.close();
    }
  }
}
