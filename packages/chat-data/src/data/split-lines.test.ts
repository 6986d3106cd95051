import { Readable } from 'node:stream';
import fc from 'fast-check';
import { expect, test } from 'vitest';
import { splitLines } from './split-lines.js';

async function collect(chunks: Buffer[], maxLineBytes: number): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of splitLines(Readable.from(chunks), maxLineBytes)) {
    out.push(
      entry.kind === 'line' ? `${entry.line}:${entry.bytes.toString('utf8')}` : `${entry.line}:TOO-LONG`,
    );
  }
  return out;
}

/** The reference: split the whole text at once. */
function reference(text: string, maxLineBytes: number): string[] {
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines.flatMap((line, index) => {
    if (Buffer.byteLength(line) > maxLineBytes) return [`${index + 1}:TOO-LONG`];
    return line === '' ? [] : [`${index + 1}:${line}`];
  });
}

test('any chunking gives the lines of split("\\n"), over-long lines reported once', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.constantFrom('a', 'é', '😀', '\n', '\r', ' ', 'xyz'), { maxLength: 60 }),
      fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 20 }),
      fc.integer({ min: 1, max: 12 }),
      async (pieces, cuts, maxLineBytes) => {
        const text = pieces.join('');
        const bytes = Buffer.from(text, 'utf8');
        const chunks: Buffer[] = [];
        for (let at = 0, k = 0; at < bytes.length; k++) {
          const size = cuts[k % cuts.length]!;
          chunks.push(bytes.subarray(at, at + size));
          at += size;
        }
        // Empty lines are not yielded by splitLines except as zero-length buffers; drop them like the reference.
        const got = (await collect(chunks, maxLineBytes)).filter((entry) => !/^\d+:$/.test(entry));
        expect(got).toEqual(reference(text, maxLineBytes));
      },
    ),
    { numRuns: 300 },
  );
});
