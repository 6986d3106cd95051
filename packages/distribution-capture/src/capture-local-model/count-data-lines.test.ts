import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { countDataLines } from './capture-local-model.js';

const root = mkdtempSync(join(tmpdir(), 'fusechat-count-lines-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** The reference: split the text, drop whitespace-only lines. */
const reference = (text: string) => text.split('\n').filter((line) => /[^ \t\r]/.test(line)).length;

describe('countDataLines', () => {
  it('counts non-blank lines: blank and whitespace lines, CRLF, no final newline, lines across read chunks', async () => {
    const long = `{"text": "${'x'.repeat(70_000)}"}`; // longer than one 64 KiB read
    const texts = [
      '',
      '\n\n',
      '{"a":1}',
      '{"a":1}\n',
      '{"a":1}\r\n  \r\n\t\n{"b":2}\r\n',
      `${long}\n\n${long}\n   ${long}`,
      `${'{"a":1}\n'.repeat(20_000)}  \n`,
    ];
    for (const [index, text] of texts.entries()) {
      const path = join(root, `data-${index}.jsonl`);
      writeFileSync(path, text);
      expect(await countDataLines(path)).toBe(reference(text));
    }
    expect(await countDataLines(join(root, 'missing.jsonl'))).toBe(Number.POSITIVE_INFINITY);
  });
});
