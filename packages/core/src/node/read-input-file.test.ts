import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isFuseChatError } from '../errors.js';
import { readInputFile, readInputText } from './read-input-file.js';

const dir = mkdtempSync(join(tmpdir(), 'fusechat-read-input-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    if (isFuseChatError(error)) return error.code;
    throw error;
  }
  throw new Error('expected a rejection');
}

describe('readInputFile', () => {
  it('reads a regular file whole, including one larger than a single read', async () => {
    const path = join(dir, 'big.txt');
    const text = 'x'.repeat(3_000_000);
    writeFileSync(path, text);
    expect(await readInputText(path)).toBe(text);
    writeFileSync(join(dir, 'empty'), '');
    expect((await readInputFile(join(dir, 'empty'))).byteLength).toBe(0);
  });

  it('refuses a FIFO without a writer at once instead of hanging in open()', async () => {
    const fifo = join(dir, 'pipe');
    execFileSync('mkfifo', [fifo]);
    expect(await codeOf(readInputFile(fifo, { notFoundCode: 'MERGE_CONFIG_UNREADABLE' }))).toBe(
      'INPUT_NOT_A_FILE',
    );
  });

  it('names directories, devices, missing files and size limits by code', async () => {
    mkdirSync(join(dir, 'sub'));
    expect(await codeOf(readInputFile(join(dir, 'sub')))).toBe('INPUT_NOT_A_FILE');
    expect(await codeOf(readInputFile('/dev/zero'))).toBe('INPUT_NOT_A_FILE');
    expect(await codeOf(readInputFile(join(dir, 'missing.json')))).toBe('INPUT_FILE_NOT_FOUND');
    expect(
      await codeOf(readInputFile(join(dir, 'big.txt', 'below'), { notFoundCode: 'MODEL_CONFIG_NOT_FOUND' })),
    ).toBe('MODEL_CONFIG_NOT_FOUND');
    expect(await codeOf(readInputFile(join(dir, 'big.txt'), { maxBytes: 1000 }))).toBe(
      'INPUT_FILE_TOO_LARGE',
    );
  });

  it.skipIf(process.getuid?.() === 0)('reports an unreadable file as a permission error', async () => {
    const path = join(dir, 'secret');
    writeFileSync(path, 'x');
    chmodSync(path, 0o000);
    expect(await codeOf(readInputFile(path))).toBe('INPUT_PERMISSION_DENIED');
  });
});
