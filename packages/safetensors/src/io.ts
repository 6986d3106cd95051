// Internal file helpers: full positional reads/writes, temp names, fs error wrapping.
import { randomBytes } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { FileFormatError, FuseChatError } from '@fusechat/core';

// Node rejects single reads/writes above 2 GiB − 1; stay well below.
const MAX_IO_CHUNK = 1 << 30;

/** Reads exactly `target.byteLength` bytes at `position`; a short file is a truncation error. */
export async function readFully(
  handle: FileHandle,
  target: Uint8Array,
  position: number,
  context: { path: string; tensorName?: string },
): Promise<void> {
  let done = 0;
  while (done < target.byteLength) {
    const length = Math.min(target.byteLength - done, MAX_IO_CHUNK);
    const { bytesRead } = await handle.read(target, done, length, position + done);
    if (bytesRead === 0)
      throw new FileFormatError(
        'SAFETENSORS_TRUNCATED',
        `${context.path}: file ends at byte ${position + done} but ${
          context.tensorName === undefined ? 'the header' : `tensor "${context.tensorName}"`
        } needs bytes up to ${position + target.byteLength}; the file is truncated (was it changed while open, or only partly downloaded?).`,
        { path: context.path, offset: position + done, tensorName: context.tensorName },
      );
    done += bytesRead;
  }
}

/** Pieces of a write whose progress is reported (large enough for few syscalls). */
const PROGRESS_CHUNK = 8 << 20;

/**
 * Writes all of `source` at `position`. With `onProgress`, in 8 MiB pieces, reporting the bytes
 * written after each.
 */
export async function writeFully(
  handle: FileHandle,
  source: Uint8Array,
  position: number,
  onProgress?: (bytes: number) => void,
): Promise<void> {
  const chunk = onProgress === undefined ? MAX_IO_CHUNK : PROGRESS_CHUNK;
  let done = 0;
  while (done < source.byteLength) {
    const length = Math.min(source.byteLength - done, chunk);
    const { bytesWritten } = await handle.write(source, done, length, position + done);
    done += bytesWritten;
    onProgress?.(done);
  }
}

/** A hidden temp file beside `path` (same directory, so the final rename is atomic). */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`);
}

/** Wraps a Node fs error into a FuseChatError with a stable code, keeping it as `cause`. */
export function fsError(error: unknown, action: string, path: string): FuseChatError {
  if (error instanceof FuseChatError) return error;
  const errno = (error as NodeJS.ErrnoException | undefined)?.code;
  const code =
    errno === 'ENOENT'
      ? 'SAFETENSORS_FILE_NOT_FOUND'
      : errno === 'EACCES' || errno === 'EPERM'
        ? 'SAFETENSORS_PERMISSION_DENIED'
        : errno === 'EISDIR'
          ? 'SAFETENSORS_NOT_A_FILE'
          : 'SAFETENSORS_IO_ERROR';
  const reason = error instanceof Error ? error.message : String(error);
  return new FuseChatError(code, `Could not ${action} ${path}: ${reason}`, {
    cause: error,
    details: { path, errno },
  });
}
