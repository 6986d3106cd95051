import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { FileFormatError, FuseChatError } from '../errors.js';

/** Largest config-like file read whole by default (config.json, YAML, templates): 64 MiB. */
export const DEFAULT_MAX_INPUT_FILE_BYTES = 64 * 1024 * 1024;

/** Options of {@link readInputFile}. */
export interface ReadInputFileOptions {
  /** What the file is, for messages (`"merge config"`, `"config.json"`). */
  readonly what?: string;
  /** Refuse files larger than this (default {@link DEFAULT_MAX_INPUT_FILE_BYTES}). */
  readonly maxBytes?: number;
  /** Error code prefix (`MODEL`, `MERGE_CONFIG`): codes become `<prefix>_FILE_NOT_FOUND` etc. Default `INPUT`. */
  readonly codePrefix?: string;
}

/**
 * Reads a small input file whole (a config, a template, a manifest) the safe way: opened
 * non-blocking so a FIFO without a writer cannot hang the process, refused unless it is a
 * regular file, refused above `maxBytes` before anything is allocated, and every failure a
 * {@link FuseChatError} with a code that says what happened (`…_FILE_NOT_FOUND`,
 * `…_PERMISSION_DENIED`, `…_NOT_A_FILE`, `…_FILE_TOO_LARGE`, `…_IO_ERROR`).
 *
 * @example
 * ```ts
 * const text = await readInputFile('merge.yml', { what: 'merge config' }).then((b) => b.toString('utf8'));
 * ```
 */
export async function readInputFile(path: string, options: ReadInputFileOptions = {}): Promise<Buffer> {
  const what = options.what ?? 'file';
  const prefix = options.codePrefix ?? 'INPUT';
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_INPUT_FILE_BYTES;
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever.
    handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    throw inputFileError(error, what, path, prefix);
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
        code(prefix, 'NOT_A_FILE'),
        `${path} is ${kind}; the ${what} must be a regular file.`,
        { path },
      );
    }
    if (stats.size > maxBytes) {
      throw new FileFormatError(
        code(prefix, 'FILE_TOO_LARGE'),
        `${path} is ${stats.size} bytes; a ${what} larger than ${maxBytes} bytes is refused (is it the right file?).`,
        { path, details: { bytes: stats.size, maxBytes } },
      );
    }
    // Read at most maxBytes + 1 so a file that grows while read is still refused, not loaded.
    const buffer = Buffer.allocUnsafe(Math.min(stats.size, maxBytes) + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length > maxBytes) {
        throw new FileFormatError(
          code(prefix, 'FILE_TOO_LARGE'),
          `${path} grew past ${maxBytes} bytes while it was read; a ${what} that large is refused.`,
          { path, details: { maxBytes } },
        );
      }
      if (length === buffer.length) break;
    }
    return buffer.subarray(0, length);
  } catch (error) {
    throw inputFileError(error, what, path, prefix);
  } finally {
    await handle.close().catch(() => {});
  }
}

/** Reads a small input file as UTF-8 text; see {@link readInputFile}. */
export async function readInputText(path: string, options: ReadInputFileOptions = {}): Promise<string> {
  return (await readInputFile(path, options)).toString('utf8');
}

function code(prefix: string, suffix: string): string {
  return `${prefix}_${suffix}`;
}

/**
 * Wraps a Node fs error met while reading an input into a {@link FuseChatError} whose code says
 * what happened (missing, permission, a directory, I/O), keeping the original as `cause`.
 */
export function inputFileError(error: unknown, what: string, path: string, prefix = 'INPUT'): FuseChatError {
  if (error instanceof FuseChatError) return error;
  const errno = (error as NodeJS.ErrnoException | undefined)?.code;
  const [suffix, reason] =
    errno === 'ENOENT' || errno === 'ENOTDIR'
      ? ['FILE_NOT_FOUND', 'does not exist']
      : errno === 'EACCES' || errno === 'EPERM'
        ? ['PERMISSION_DENIED', 'cannot be read (permission denied)']
        : errno === 'EISDIR'
          ? ['NOT_A_FILE', 'is a directory']
          : ['IO_ERROR', `cannot be read (${error instanceof Error ? error.message : String(error)})`];
  return new FuseChatError(code(prefix, suffix), `The ${what} ${path} ${reason}.`, {
    cause: error,
    details: { path, errno },
  });
}
