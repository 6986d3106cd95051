import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { FileFormatError } from '@fusechat/core';

/**
 * SHA-256 of a file's bytes as lowercase hex, streamed (constant memory). This is the data hash a
 * distribution store records.
 *
 * @throws FileFormatError `CHAT_DATA_NOT_FOUND` when the file cannot be read.
 * @example
 * ```ts
 * const dataHash = await hashFile('train.jsonl'); // 'e3b0c442…'
 * ```
 */
export async function hashFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  try {
    for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 })) {
      hash.update(chunk as Buffer);
    }
  } catch (cause) {
    throw new FileFormatError(
      'CHAT_DATA_NOT_FOUND',
      `cannot read ${path}: ${cause instanceof Error ? cause.message : String(cause)}`,
      { path, cause },
    );
  }
  return hash.digest('hex');
}

/**
 * SHA-256 of a string's UTF-8 bytes as lowercase hex (e.g. the chat-template hash of a store).
 *
 * @example
 * ```ts
 * hashText('abc'); // 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'
 * ```
 */
export function hashText(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}
