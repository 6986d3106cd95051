import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { hashFile, hashText } from './hash-file.js';

// FIPS 180-2 test vectors.
const SHA256_ABC = 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad';
const SHA256_EMPTY = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const SHA256_MILLION_A = 'cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0';

test('hashText matches the SHA-256 test vectors', () => {
  expect(hashText('abc')).toBe(SHA256_ABC);
  expect(hashText('')).toBe(SHA256_EMPTY);
});

test('hashFile streams the bytes (a million "a" spans several chunks)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'chat-data-hash-'));
  writeFileSync(join(dir, 'a.txt'), 'a'.repeat(1_000_000));
  writeFileSync(join(dir, 'empty.txt'), '');
  expect(await hashFile(join(dir, 'a.txt'))).toBe(SHA256_MILLION_A);
  expect(await hashFile(join(dir, 'empty.txt'))).toBe(SHA256_EMPTY);
  await expect(hashFile(join(dir, 'missing'))).rejects.toMatchObject({ code: 'CHAT_DATA_NOT_FOUND' });
});
