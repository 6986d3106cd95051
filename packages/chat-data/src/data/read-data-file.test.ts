import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FuseChatError } from '@fusechat/core';
import { describe, expect, test } from 'vitest';
import type { DataExample } from './data-example.js';
import { readDataFile } from './read-data-file.js';

const dir = mkdtempSync(join(tmpdir(), 'chat-data-'));
let fileCount = 0;
function dataFile(content: string | Buffer): string {
  const path = join(dir, `data-${++fileCount}.jsonl`);
  writeFileSync(path, content);
  return path;
}

async function readAll(path: string, options = {}): Promise<DataExample[]> {
  const examples: DataExample[] = [];
  for await (const example of readDataFile(path, options)) examples.push(example);
  return examples;
}

async function readError(path: string, options = {}): Promise<FuseChatError> {
  try {
    await readAll(path, options);
  } catch (error) {
    return error as FuseChatError;
  }
  throw new Error('expected an error');
}

const chat = {
  messages: [
    { role: 'user', content: 'Hi' },
    { role: 'assistant', content: 'Hello' },
  ],
};

describe('readDataFile', () => {
  test('reads every kind, with a BOM, CRLF line ends and blank lines', async () => {
    const path = dataFile(
      `\uFEFF${JSON.stringify(chat)}\r\n\r\n   \n${JSON.stringify({ text: 'plain' })}\r\n` +
        `${JSON.stringify({ input_ids: [5, 6, 7], labels: [-100, 6, 7] })}\n` +
        `${JSON.stringify({
          conversations: [
            { from: 'human', value: 'Q' },
            { from: 'gpt', value: 'A' },
          ],
        })}`,
    );
    const reader = readDataFile(path);
    const examples: DataExample[] = [];
    for await (const example of reader) examples.push(example);
    expect(examples.map((example) => [example.kind, example.where])).toEqual([
      ['chat', `${path}:1`],
      ['text', `${path}:4`],
      ['tokens', `${path}:5`],
      ['chat', `${path}:6`],
    ]);
    expect(examples[0]).toMatchObject({
      messages: [
        { role: 'user', content: 'Hi' },
        { role: 'assistant', content: 'Hello' },
      ],
    });
    expect(examples[1]).toMatchObject({ text: 'plain' });
    expect(examples[2]).toMatchObject({ inputIds: [5, 6, 7], labels: [-100, 6, 7] });
    expect(examples[3]).toMatchObject({
      messages: [
        { role: 'user', content: 'Q' },
        { role: 'assistant', content: 'A' },
      ],
    });
    expect(reader.counts).toEqual({ lines: 6, examples: 4, blank: 2, skipped: 0 });
  });

  test('ids: the "id" field, else the first 16 hex of the line text’s SHA-256, "#n" on repeats', async () => {
    const line = JSON.stringify(chat);
    const path = dataFile(
      [
        JSON.stringify({ ...chat, id: 'conv-1' }),
        JSON.stringify({ ...chat, id: 42 }),
        line,
        `${line}\r`,
        line,
      ].join('\n'),
    );
    const derived = createHash('sha256').update(line).digest('hex').slice(0, 16);
    const ids = (await readAll(path)).map((example) => example.id);
    expect(ids).toEqual(['conv-1', '42', derived, `${derived}#2`, `${derived}#3`]);
    // Stable: a second pass (and a second reader) gives the same ids.
    expect((await readAll(path)).map((example) => example.id)).toEqual(ids);
  });

  test.each([
    ['bad JSON', '{"messages": [', 'CHAT_INVALID_JSON'],
    ['not an object', '[1, 2]', 'CHAT_INVALID_JSON'],
    ['unknown role', '{"messages": [{"role": "robot", "content": "x"}]}', 'CHAT_UNKNOWN_ROLE'],
    ['unknown ShareGPT from', '{"conversations": [{"from": "alien", "value": "x"}]}', 'CHAT_UNKNOWN_ROLE'],
    ['empty conversation', '{"messages": []}', 'CHAT_EMPTY_CONVERSATION'],
    ['non-string content', '{"messages": [{"role": "user", "content": 5}]}', 'CHAT_INVALID_CONTENT'],
    ['no assistant turn', '{"messages": [{"role": "user", "content": "Hi"}]}', 'CHAT_NO_ASSISTANT'],
    ['non-integer ids', '{"input_ids": [1, 2.5]}', 'CHAT_INVALID_TOKEN_IDS'],
    ['unknown format', '{"prompt": "x"}', 'CHAT_UNKNOWN_FORMAT'],
    ['bad id field', '{"id": [1], "text": "x"}', 'CHAT_INVALID_ID'],
  ])('%s → %s with file:line', async (_name, badLine, code) => {
    const path = dataFile(
      `${JSON.stringify({ text: 'ok' })}\n\n${badLine}\n${JSON.stringify({ text: 'after' })}\n`,
    );
    const error = await readError(path);
    expect(error.code).toBe(code);
    expect(error.message.startsWith(`${path}:3: `)).toBe(true);
    expect(error.details.line).toBe(3);
  });

  test('invalid UTF-8 → CHAT_INVALID_UTF8 with file:line', async () => {
    const path = dataFile(
      Buffer.concat([
        Buffer.from('{"text": "a"}\n{"text": "'),
        Buffer.from([0xff, 0xfe]),
        Buffer.from('"}\n'),
      ]),
    );
    const error = await readError(path);
    expect(error.code).toBe('CHAT_INVALID_UTF8');
    expect(error.message).toContain(`${path}:2:`);
  });

  test('skipInvalid skips and counts, calling onInvalid with each error', async () => {
    const path = dataFile(
      [
        JSON.stringify({ text: 'one' }),
        'not json',
        '{"messages": [{"role": "user", "content": "no answer"}]}',
        `{"text": "${'x'.repeat(200)}"}`,
        JSON.stringify({ text: 'two' }),
      ].join('\n'),
    );
    const seen: string[] = [];
    const reader = readDataFile(path, {
      skipInvalid: true,
      maxLineBytes: 100,
      onInvalid: (error: FuseChatError) => seen.push(`${error.code}@${error.details.line}`),
    });
    const texts: string[] = [];
    for await (const example of reader) if (example.kind === 'text') texts.push(example.text);
    expect(texts).toEqual(['one', 'two']);
    expect(seen).toEqual(['CHAT_INVALID_JSON@2', 'CHAT_NO_ASSISTANT@3', 'CHAT_LINE_TOO_LONG@4']);
    expect(reader.counts).toEqual({ lines: 5, examples: 2, blank: 0, skipped: 3 });
  });

  test('a line over the byte limit → CHAT_LINE_TOO_LONG naming file:line (limit counts bytes, not characters)', async () => {
    const exact = `{"text": "${'é'.repeat(10)}"}`; // 12 ASCII bytes + 20 bytes of é = 32 bytes
    expect(Buffer.byteLength(exact)).toBe(32);
    expect(await readAll(dataFile(`${exact}\n`), { maxLineBytes: 32 })).toHaveLength(1);
    const path = dataFile(`${JSON.stringify({ text: 'a' })}\n${exact}\n`);
    const error = await readError(path, { maxLineBytes: 31 });
    expect(error.code).toBe('CHAT_LINE_TOO_LONG');
    expect(error.message).toContain(`${path}:2:`);
    expect(error.message).toContain('31 bytes');
  });

  test('an endless line (a sparse 200 MB file of zeros) fails at the limit instead of running out of memory', async () => {
    const path = join(dir, 'zeros.jsonl');
    const { closeSync, ftruncateSync, openSync } = await import('node:fs');
    const fd = openSync(path, 'w');
    ftruncateSync(fd, 200 * 1024 * 1024); // sparse: no disk used, reads as zeros
    closeSync(fd);
    const before = process.memoryUsage().rss;
    const error = await readError(path, { maxLineBytes: 64 * 1024 * 1024 });
    expect(error.code).toBe('CHAT_LINE_TOO_LONG');
    expect(error.message).toContain('zeros.jsonl:1:');
    // The bytes read so far are held as chunks of at most the limit (64 MiB), never a string of it.
    expect(process.memoryUsage().rss - before).toBeLessThan(400 * 1024 * 1024);
  });

  test('a device or a FIFO is refused at once (a FIFO without a writer would hang in open())', async () => {
    expect((await readError('/dev/zero')).code).toBe('INPUT_NOT_A_FILE');
    const fifo = join(dir, 'data.fifo');
    const { execFileSync } = await import('node:child_process');
    execFileSync('mkfifo', [fifo]);
    const error = await readError(fifo);
    expect(error.code).toBe('INPUT_NOT_A_FILE');
    expect(error.message).toMatch(/named pipe/);
  });

  test('a file that cannot be read → CHAT_DATA_NOT_FOUND', async () => {
    const error = await readError(join(dir, 'missing.jsonl'));
    expect(error.code).toBe('CHAT_DATA_NOT_FOUND');
    expect(error.message).toContain('missing.jsonl');
  });

  test('a line split across many stream chunks is read whole', async () => {
    const long = 'y'.repeat(3 * 1024 * 1024 + 17);
    const path = dataFile(`${JSON.stringify({ text: long })}\n${JSON.stringify({ text: 'end' })}`);
    const examples = await readAll(path);
    expect(examples.map((example) => (example.kind === 'text' ? example.text.length : -1))).toEqual([
      long.length,
      3,
    ]);
  });
});
