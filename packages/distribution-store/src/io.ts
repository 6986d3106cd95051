// Internal file helpers: atomic writes (temp + fsync + rename + directory fsync), fs error wrapping.
import { randomBytes } from 'node:crypto';
import { open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { FuseChatError } from '@fusechat/core';

/** Suffix of every temporary file the writer creates; leftovers are removed on resume. */
export const TEMP_SUFFIX = '.tmp';

/** A hidden temp file beside `path` (same directory, so the rename is atomic). */
export function tempPathFor(path: string): string {
  return join(
    dirname(path),
    `.${basename(path)}.${process.pid}-${randomBytes(4).toString('hex')}${TEMP_SUFFIX}`,
  );
}

/** The file system operations the writer uses; tests substitute failing ones. */
export interface StoreFileSystem {
  open: typeof open;
  rename: typeof rename;
  unlink: typeof unlink;
}

export const nodeFileSystem: StoreFileSystem = { open, rename, unlink };

/** Writes `data` to `path` atomically: temp file, fsync, rename, fsync of the directory. */
export async function writeFileAtomic(
  path: string,
  data: Uint8Array | string,
  fs: StoreFileSystem = nodeFileSystem,
) {
  const temp = tempPathFor(path);
  try {
    const handle = await fs.open(temp, 'w');
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(temp, path);
  } catch (error) {
    await fs.unlink(temp).catch(() => {});
    throw fsError(error, 'write', path);
  }
  await syncDirectory(dirname(path));
}

/** fsync a directory so a rename inside it is durable (a no-op where directories cannot be opened). */
export async function syncDirectory(dir: string): Promise<void> {
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch {
    // Windows cannot fsync a directory; the rename is still atomic there.
  } finally {
    await handle?.close().catch(() => {});
  }
}

/** Wraps a Node fs error into a FuseChatError with a stable `STORE_…` code, keeping it as `cause`. */
export function fsError(error: unknown, action: string, path: string): FuseChatError {
  if (error instanceof FuseChatError) return error;
  const errno = (error as NodeJS.ErrnoException | undefined)?.code;
  const [code, advice] =
    errno === 'ENOSPC' || errno === 'EDQUOT'
      ? [
          'STORE_DISK_FULL',
          'Free some space and run again: the store resumes after its last committed shard.',
        ]
      : errno === 'EACCES' || errno === 'EPERM' || errno === 'EROFS'
        ? [
            'STORE_PERMISSION_DENIED',
            'Choose a writable directory or fix its permissions; the store is left resumable.',
          ]
        : errno === 'ENOENT'
          ? ['STORE_FILE_NOT_FOUND', 'Check the path.']
          : ['STORE_IO_ERROR', 'The store is left as it was after its last committed shard.'];
  const reason = error instanceof Error ? error.message : String(error);
  return new FuseChatError(code, `Could not ${action} ${path}: ${reason}. ${advice}`, {
    cause: error,
    details: { path, errno },
  });
}
