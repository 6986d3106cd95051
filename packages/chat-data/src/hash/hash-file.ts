import { createHash } from 'node:crypto';
import { FileFormatError } from '@fusechat/core';
import { openInputFile } from '@fusechat/core/node';

/**
 * SHA-256 of a file's bytes as lowercase hex, streamed (constant memory). This is the data hash a
 * distribution store records.
 *
 * @throws FileFormatError `CHAT_DATA_NOT_FOUND` when the file does not exist or cannot be read;
 *   `INPUT_NOT_A_FILE` for a directory, FIFO or device (a FIFO would block, and cannot be read twice).
 * @example
 * ```ts
 * const dataHash = await hashFile('train.jsonl'); // 'e3b0c442…'
 * ```
 */
export async function hashFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  const handle = await openInputFile(path, { what: 'data file', notFoundCode: 'CHAT_DATA_NOT_FOUND' });
  try {
    for await (const chunk of handle.createReadStream({ highWaterMark: 1024 * 1024 })) {
      hash.update(chunk as Buffer);
    }
  } catch (cause) {
    throw new FileFormatError(
      'CHAT_DATA_NOT_FOUND',
      `cannot read ${path}: ${cause instanceof Error ? cause.message : String(cause)}`,
      { path, cause },
    );
  } finally {
    await handle.close().catch(() => {});
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
