// Names of the files inside a store directory.
import { MANIFEST_FILE } from './store-manifest.js';

/** Data file of shard `index`: `shard-00000.bin`. */
export function shardFileName(index: number): string {
  return `shard-${String(index).padStart(5, '0')}.bin`;
}

/** Index file of shard `index`: `shard-00000.idx`. */
export function indexFileName(index: number): string {
  return `shard-${String(index).padStart(5, '0')}.idx`;
}

/** Whether a directory entry is one this package writes (manifest, shards, indexes, temp files). */
export function isStoreFile(name: string): boolean {
  return name === MANIFEST_FILE || /^shard-\d{5,}\.(bin|idx)$/.test(name) || isTempFile(name);
}

/** Temp files of a (possibly killed) writer: `.<final name>.<pid>-<random>.tmp`. */
export function isTempFile(name: string): boolean {
  return /^\.(manifest\.json|shard-\d{5,}\.(bin|idx))\..+\.tmp$/.test(name);
}
