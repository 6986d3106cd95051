import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { canonicalJson } from '@fusechat/distribution-store';
import { writeJsonAtomic } from './write-json-atomic.js';

/**
 * SHA-256 of files, remembered by (path, size, mtime) in a JSON file of the run directory, so a
 * rerun does not re-read a 14 GB model to find it unchanged. A file whose size or mtime changed
 * is hashed again.
 */
export interface FileHasher {
  /** `sha256:<hex>` of the file's bytes. */
  hashFile(path: string): Promise<string>;
  /**
   * `sha256:<hex>` over the names and hashes of the regular files at the top of a directory
   * (a model directory: config.json, weights, tokenizer files), in name order.
   */
  hashDirectory(dir: string, options?: { readonly exclude?: (name: string) => boolean }): Promise<string>;
  /** Writes the remembered hashes back (call at the end of a run). */
  save(): Promise<void>;
}

/**
 * A {@link FileHasher} whose memory lives in `cacheFile` (created when missing).
 *
 * @example
 * ```ts
 * const hasher = await createFileHasher('run/.file-hashes.json');
 * await hasher.hashDirectory('models/pivot'); // 'sha256:…'
 * await hasher.save();
 * ```
 */
export async function createFileHasher(cacheFile: string): Promise<FileHasher> {
  let cache: Record<string, { size: number; mtimeMs: number; hash: string }> = {};
  try {
    cache = JSON.parse(await readFile(cacheFile, 'utf8')) as typeof cache;
  } catch {
    cache = {};
  }
  let changed = false;
  const hashFile = async (path: string): Promise<string> => {
    const absolute = resolve(path);
    const entry = await stat(absolute);
    const known = cache[absolute];
    if (known !== undefined && known.size === entry.size && known.mtimeMs === entry.mtimeMs)
      return known.hash;
    const hash = await sha256File(absolute);
    cache[absolute] = { size: entry.size, mtimeMs: entry.mtimeMs, hash };
    changed = true;
    return hash;
  };
  return {
    hashFile,
    async hashDirectory(dir, options = {}) {
      const names = (await readdir(dir, { withFileTypes: true }))
        .filter((entry) => !entry.name.startsWith('.') && !(options.exclude?.(entry.name) ?? false))
        .map((entry) => entry.name)
        .sort();
      const parts: [string, string][] = [];
      for (const name of names) {
        const entry = await stat(join(dir, name));
        if (entry.isFile()) parts.push([name, await hashFile(join(dir, name))]);
      }
      return hashValue(parts);
    },
    async save() {
      if (changed) await writeJsonAtomic(cacheFile, cache);
      changed = false;
    },
  };
}

/** `sha256:<hex>` of a file's bytes, streamed. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return `sha256:${hash.digest('hex')}`;
}

/** `sha256:<hex>` of the canonical JSON of a value (sorted keys): the hash of a stage's inputs. */
export function hashValue(value: unknown): string {
  return `sha256:${createHash('sha256').update(canonicalJson(value)).digest('hex')}`;
}
