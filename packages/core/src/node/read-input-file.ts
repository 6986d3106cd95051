import { constants } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { FileFormatError, FuseChatError } from '../errors.js';

/** Largest config-like file read whole by default (config.json, YAML, templates): 64 MiB. */
export const DEFAULT_MAX_INPUT_FILE_BYTES = 64 * 1024 * 1024;

/** Options of {@link readInputFile}. */
export interface ReadInputFileOptions {
  /** What the file is, for messages (`"merge config"`, `"config.json"`). */
  readonly what?: string;
  /** Refuse files larger than this (default {@link DEFAULT_MAX_INPUT_FILE_BYTES}). */
  readonly maxBytes?: number;
  /**
   * Code of the error for a file that does not exist (a caller's documented code, e.g.
   * `MODEL_CONFIG_NOT_FOUND`); default `INPUT_FILE_NOT_FOUND`. The other failures always use the
   * `INPUT_…` codes, so the code says what went wrong.
   */
  readonly notFoundCode?: string;
}

/**
 * Reads a small input file whole (a config, a template, a manifest) the safe way: opened
 * non-blocking so a FIFO without a writer cannot hang the process, refused unless it is a
 * regular file, refused above `maxBytes` before anything is allocated, and every failure a
 * {@link FuseChatError} with a code that says what happened (`INPUT_FILE_NOT_FOUND` or the
 * caller's `notFoundCode`, `INPUT_PERMISSION_DENIED`, `INPUT_NOT_A_FILE`, `INPUT_FILE_TOO_LARGE`,
 * `INPUT_IO_ERROR`).
 *
 * @example
 * ```ts
 * const text = await readInputFile('merge.yml', { what: 'merge config' }).then((b) => b.toString('utf8'));
 * ```
 */
export async function readInputFile(path: string, options: ReadInputFileOptions = {}): Promise<Buffer> {
  const what = options.what ?? 'file';
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_INPUT_FILE_BYTES;
  const handle = await openInputFile(path, options);
  try {
    const { size } = await handle.stat();
    if (size > maxBytes) {
      throw new FileFormatError(
        'INPUT_FILE_TOO_LARGE',
        `${path} is ${size} bytes; a ${what} larger than ${maxBytes} bytes is refused (is it the right file?).`,
        { path, details: { bytes: size, maxBytes } },
      );
    }
    // Read at most maxBytes + 1 so a file that grows while read is still refused, not loaded.
    const buffer = Buffer.allocUnsafe(Math.min(size, maxBytes) + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length > maxBytes) {
        throw new FileFormatError(
          'INPUT_FILE_TOO_LARGE',
          `${path} grew past ${maxBytes} bytes while it was read; a ${what} that large is refused.`,
          { path, details: { maxBytes } },
        );
      }
      if (length === buffer.length) break;
    }
    return buffer.subarray(0, length);
  } catch (error) {
    throw inputFileError(error, what, path, options.notFoundCode);
  } finally {
    await handle.close().catch(() => {});
  }
}

/**
 * Opens an input file for reading after checking that it is a regular file — opened
 * non-blocking, so a FIFO without a writer is refused at once instead of hanging the process —
 * with the coded errors of {@link readInputFile}. For streaming reads of large inputs (data
 * files): `(await openInputFile(path)).createReadStream()`. The caller closes the handle.
 */
export async function openInputFile(
  path: string,
  options: Pick<ReadInputFileOptions, 'what' | 'notFoundCode'> = {},
): Promise<FileHandle> {
  const what = options.what ?? 'file';
  let handle: FileHandle;
  try {
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever.
    handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    throw inputFileError(error, what, path, options.notFoundCode);
  }
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) {
      const kind = stats.isDirectory()
        ? 'a directory'
        : stats.isFIFO()
          ? 'a named pipe (FIFO)'
          : stats.isSocket()
            ? 'a socket'
            : stats.isCharacterDevice() || stats.isBlockDevice()
              ? 'a device'
              : 'not a regular file';
      throw new FileFormatError(
        'INPUT_NOT_A_FILE',
        `${path} is ${kind}; the ${what} must be a regular file.`,
        {
          path,
        },
      );
    }
    return handle;
  } catch (error) {
    await handle.close().catch(() => {});
    throw inputFileError(error, what, path, options.notFoundCode);
  }
}

/** Reads a small input file as UTF-8 text; see {@link readInputFile}. */
export async function readInputText(path: string, options: ReadInputFileOptions = {}): Promise<string> {
  return (await readInputFile(path, options)).toString('utf8');
}

/**
 * Wraps a Node fs error met while reading an input into a {@link FuseChatError} whose code says
 * what happened (missing, permission, a directory, I/O), keeping the original as `cause`.
 */
export function inputFileError(
  error: unknown,
  what: string,
  path: string,
  notFoundCode = 'INPUT_FILE_NOT_FOUND',
): FuseChatError {
  if (error instanceof FuseChatError) return error;
  const errno = (error as NodeJS.ErrnoException | undefined)?.code;
  const [code, reason] =
    errno === 'ENOENT' || errno === 'ENOTDIR'
      ? [notFoundCode, 'does not exist']
      : errno === 'EACCES' || errno === 'EPERM'
        ? ['INPUT_PERMISSION_DENIED', 'cannot be read (permission denied)']
        : errno === 'EISDIR'
          ? ['INPUT_NOT_A_FILE', 'is a directory']
          : ['INPUT_IO_ERROR', `cannot be read (${error instanceof Error ? error.message : String(error)})`];
  return new FuseChatError(code, `${path} (the ${what}) ${reason}.`, {
    cause: error,
    details: { path, errno },
  });
}
