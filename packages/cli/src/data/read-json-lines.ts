import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { FileFormatError } from '@fusechat/core';

/** One non-blank line of a JSONL file, parsed. */
export interface JsonLine {
  /** 1-based line number in the file, for error messages (`data.jsonl:12`). */
  readonly lineNumber: number;
  readonly value: Record<string, unknown>;
}

/**
 * Streams a JSONL file one object per line, skipping blank lines (and a UTF-8 BOM). A line that
 * is not JSON, or not a JSON object, fails with a `FileFormatError` naming the file and line.
 *
 * @throws FileFormatError `CLI_DATA_NOT_FOUND` when the file cannot be read, `CLI_INVALID_JSONL`
 *   for a bad line (`path`, `details.line`).
 * @example
 * ```ts
 * for await (const { lineNumber, value } of readJsonLines('data/eval.jsonl')) {
 *   console.log(lineNumber, Object.keys(value));
 * }
 * ```
 */
export async function* readJsonLines(path: string): AsyncGenerator<JsonLine> {
  const stream = createReadStream(path, { encoding: 'utf8' });
  const lines = createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY });
  let lineNumber = 0;
  try {
    for await (const raw of lines) {
      lineNumber++;
      const text = lineNumber === 1 ? raw.replace(/^\uFEFF/, '') : raw;
      if (text.trim() === '') continue;
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch (cause) {
        throw new FileFormatError(
          'CLI_INVALID_JSONL',
          `${path}:${lineNumber}: not valid JSON (${(cause as Error).message}); a JSONL file holds one JSON object per line.`,
          { path, cause, details: { line: lineNumber } },
        );
      }
      if (value === null || typeof value !== 'object' || Array.isArray(value)) {
        throw new FileFormatError(
          'CLI_INVALID_JSONL',
          `${path}:${lineNumber}: expected a JSON object, got ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}.`,
          { path, details: { line: lineNumber } },
        );
      }
      yield { lineNumber, value: value as Record<string, unknown> };
    }
  } catch (error) {
    if (error instanceof FileFormatError) throw error;
    throw new FileFormatError(
      'CLI_DATA_NOT_FOUND',
      `cannot read ${path}: ${error instanceof Error ? error.message : String(error)}`,
      { path, cause: error },
    );
  } finally {
    lines.close();
    stream.destroy();
  }
}
