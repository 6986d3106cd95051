import { createHash } from 'node:crypto';
import { FileFormatError, type FuseChatError, InvalidInputError } from '@fusechat/core';
import { openInputFile } from '@fusechat/core/node';
import type { DataExample } from './data-example.js';
import { type LineLocation, parseDataLine } from './parse-data-line.js';
import { splitLines } from './split-lines.js';

/** The default byte limit of one JSONL line: 64 MiB. */
export const DEFAULT_MAX_LINE_BYTES = 64 * 1024 * 1024;

export interface ReadDataFileOptions {
  /** Skip (and count) invalid lines instead of throwing on the first one. Default false. */
  readonly skipInvalid?: boolean | undefined;
  /** Longest line accepted, in bytes (default {@link DEFAULT_MAX_LINE_BYTES}). */
  readonly maxLineBytes?: number | undefined;
  /** Called with the error of each skipped line (only with `skipInvalid`). */
  readonly onInvalid?: ((error: FuseChatError) => void) | undefined;
}

/** What one pass over a data file has seen so far. */
export interface DataFileCounts {
  /** Lines read, blank ones included. */
  lines: number;
  /** Examples yielded. */
  examples: number;
  /** Blank lines (whitespace only), ignored. */
  blank: number;
  /** Invalid lines skipped (only with `skipInvalid`). */
  skipped: number;
}

/** A data file as an async iterable of examples; each iteration reads the file again. */
export interface DataFileReader extends AsyncIterable<DataExample> {
  readonly path: string;
  /** Counts of the current (or last) pass. */
  readonly counts: Readonly<DataFileCounts>;
}

/**
 * Streams a JSONL data file (DESIGN §4), one example per non-blank line: OpenAI `messages`,
 * ShareGPT `conversations`, `{"text"}` or `{"input_ids", "labels"}`. Handles a UTF-8 BOM, CRLF
 * and blank lines; a line over `maxLineBytes` is refused without being held in memory.
 *
 * Ids are stable across models: the line's `id` field (string or number) when present, else the
 * first 16 hex digits of the SHA-256 of the line's text; a repeated id gets `#2`, `#3`… in order.
 *
 * @throws FileFormatError `CHAT_DATA_NOT_FOUND` (unreadable file), `CHAT_LINE_TOO_LONG`,
 *   `CHAT_INVALID_UTF8`, `CHAT_INVALID_JSON`; InvalidInputError `CHAT_UNKNOWN_ROLE`,
 *   `CHAT_EMPTY_CONVERSATION`, `CHAT_NO_ASSISTANT`, `CHAT_INVALID_CONTENT`, `CHAT_INVALID_TOKEN_IDS`…
 *   Every message starts with `file:line`. With `skipInvalid` the line errors are counted instead.
 * @example
 * ```ts
 * const data = readDataFile('train.jsonl', { skipInvalid: true });
 * for await (const example of data) console.log(example.id, example.kind);
 * console.log(`${data.counts.examples} examples, ${data.counts.skipped} invalid lines skipped`);
 * ```
 */
export function readDataFile(path: string, options: ReadDataFileOptions = {}): DataFileReader {
  const maxLineBytes = options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
  if (!Number.isSafeInteger(maxLineBytes) || maxLineBytes < 1) {
    throw new InvalidInputError(`maxLineBytes must be a positive integer, got ${maxLineBytes}.`, {
      code: 'CHAT_INVALID_OPTION',
      field: 'maxLineBytes',
    });
  }
  const counts: DataFileCounts = { lines: 0, examples: 0, blank: 0, skipped: 0 };
  return {
    path,
    counts,
    [Symbol.asyncIterator]() {
      Object.assign(counts, { lines: 0, examples: 0, blank: 0, skipped: 0 });
      return readExamples(path, maxLineBytes, options, counts);
    },
  };
}

const BOM = Buffer.from([0xef, 0xbb, 0xbf]);
const utf8 = new TextDecoder('utf-8', { fatal: true });

async function* readExamples(
  path: string,
  maxLineBytes: number,
  options: ReadDataFileOptions,
  counts: DataFileCounts,
): AsyncGenerator<DataExample> {
  // A regular file only: a FIFO without a writer would block in open(), and capture reads the
  // data twice (hash, then examples).
  const handle = await openInputFile(path, { what: 'data file', notFoundCode: 'CHAT_DATA_NOT_FOUND' });
  const stream = handle.createReadStream({ highWaterMark: 1024 * 1024 });
  const seen = new Map<string, number>();
  try {
    for await (const entry of splitLines(stream, maxLineBytes)) {
      counts.lines = entry.line;
      const at: LineLocation = { path, line: entry.line };
      let example: DataExample | undefined;
      try {
        if (entry.kind === 'too-long') {
          throw new FileFormatError(
            'CHAT_LINE_TOO_LONG',
            `${path}:${entry.line}: line is longer than ${maxLineBytes} bytes; is this a JSONL file (one JSON object per line)? Raise the limit (maxLineBytes) if the line is real.`,
            { path, details: { line: entry.line, where: `${path}:${entry.line}`, maxLineBytes } },
          );
        }
        example = parseLine(entry.bytes, at, seen, counts);
      } catch (error) {
        if (!options.skipInvalid || !isLineError(error)) throw error;
        counts.skipped++;
        options.onInvalid?.(error);
        continue;
      }
      if (example === undefined) continue;
      counts.examples++;
      yield example;
    }
  } catch (error) {
    if (isLineError(error)) throw error;
    throw new FileFormatError(
      'CHAT_DATA_NOT_FOUND',
      `cannot read ${path}: ${error instanceof Error ? error.message : String(error)}`,
      { path, cause: error },
    );
  } finally {
    stream.destroy();
  }
}

function parseLine(
  raw: Buffer,
  at: LineLocation,
  seen: Map<string, number>,
  counts: DataFileCounts,
): DataExample | undefined {
  let bytes = raw;
  if (at.line === 1 && bytes.subarray(0, 3).equals(BOM)) bytes = bytes.subarray(3);
  if (bytes.length > 0 && bytes[bytes.length - 1] === 13) bytes = bytes.subarray(0, bytes.length - 1);
  const where = `${at.path}:${at.line}`;
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch (cause) {
    throw new FileFormatError('CHAT_INVALID_UTF8', `${where}: line is not valid UTF-8 text.`, {
      path: at.path,
      cause,
      details: { line: at.line, where },
    });
  }
  if (text.trim() === '') {
    counts.blank++;
    return undefined;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new FileFormatError(
      'CHAT_INVALID_JSON',
      `${where}: not valid JSON (${(cause as Error).message}); a JSONL file holds one JSON object per line.`,
      { path: at.path, cause, details: { line: at.line, where } },
    );
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new FileFormatError(
      'CHAT_INVALID_JSON',
      `${where}: expected a JSON object, got ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}.`,
      { path: at.path, details: { line: at.line, where } },
    );
  }
  const record = value as Record<string, unknown>;
  const parsed = parseDataLine(record, at);
  const baseId = idOf(record.id, text, at);
  const repeat = (seen.get(baseId) ?? 0) + 1;
  seen.set(baseId, repeat);
  const id = repeat === 1 ? baseId : `${baseId}#${repeat}`;
  return { ...parsed, id, where } as DataExample;
}

function idOf(field: unknown, text: string, at: LineLocation): string {
  const where = `${at.path}:${at.line}`;
  if (typeof field === 'string' && field !== '') return field;
  if (typeof field === 'number' && Number.isFinite(field)) return String(field);
  if (field !== undefined && field !== null) {
    throw new InvalidInputError(
      `${where}: "id" must be a non-empty string or a number, got ${JSON.stringify(field)}.`,
      { code: 'CHAT_INVALID_ID', field: 'id', details: { path: at.path, line: at.line, where } },
    );
  }
  return createHash('sha256').update(text, 'utf8').digest('hex').slice(0, 16);
}

function isLineError(error: unknown): error is FuseChatError {
  return (
    (error instanceof FileFormatError || error instanceof InvalidInputError) &&
    error.code !== 'CHAT_DATA_NOT_FOUND' &&
    typeof error.details.where === 'string'
  );
}
