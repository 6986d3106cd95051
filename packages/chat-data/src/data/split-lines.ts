import type { Readable } from 'node:stream';

/** A line's bytes (without `\n`), or the news that the line is longer than the limit. */
export type SplitLine =
  | { readonly kind: 'line'; readonly line: number; readonly bytes: Buffer }
  | { readonly kind: 'too-long'; readonly line: number };

/**
 * Splits a byte stream on `\n` with a byte limit per line. A line over the limit is reported as
 * soon as the limit is crossed (so an endless line, such as `/dev/zero`, never accumulates) and
 * its remaining bytes are discarded up to the next `\n`. `\r` and a BOM are left to the caller.
 * Not `readline`: that builds the whole string of a line before anyone can refuse it.
 */
export async function* splitLines(stream: Readable, maxLineBytes: number): AsyncGenerator<SplitLine> {
  let parts: Buffer[] = [];
  let pendingBytes = 0;
  let line = 1;
  let discarding = false;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    let from = 0;
    while (from < chunk.length) {
      const newline = chunk.indexOf(10, from);
      const end = newline === -1 ? chunk.length : newline;
      if (!discarding) {
        if (pendingBytes + (end - from) > maxLineBytes) {
          discarding = true;
          parts = [];
          pendingBytes = 0;
          yield { kind: 'too-long', line };
        } else if (end > from) {
          parts.push(chunk.subarray(from, end));
          pendingBytes += end - from;
        }
      }
      if (newline === -1) break;
      if (!discarding) {
        yield {
          kind: 'line',
          line,
          bytes: parts.length === 1 ? parts[0]! : Buffer.concat(parts, pendingBytes),
        };
      }
      parts = [];
      pendingBytes = 0;
      discarding = false;
      line++;
      from = newline + 1;
    }
  }
  if (!discarding && pendingBytes > 0) {
    yield { kind: 'line', line, bytes: parts.length === 1 ? parts[0]! : Buffer.concat(parts, pendingBytes) };
  }
}
