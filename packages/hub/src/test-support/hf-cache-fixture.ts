// Test-only: writes a cache exactly as huggingface_hub lays it out. Not exported.
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { etagOf, type FakeFile } from './fake-hub.js';

/**
 * `<cacheDir>/models--ORG--NAME/{blobs/<etag>, snapshots/<commit>/<file> -> ../../blobs/<etag>,
 * refs/<ref> = commit}`, blobs named by sha256 (LFS) or git blob id, refs without a newline,
 * as `hf_hub_download` writes them.
 */
export function writeHfCache(
  cacheDir: string,
  repo: string,
  commit: string,
  files: readonly FakeFile[],
  refs: readonly string[] = ['main'],
): string {
  const folder = join(cacheDir, `models--${repo.replace('/', '--')}`);
  for (const file of files) {
    const blob = join(folder, 'blobs', etagOf(file));
    mkdirSync(dirname(blob), { recursive: true });
    writeFileSync(blob, file.content);
    const pointer = join(folder, 'snapshots', commit, file.path);
    mkdirSync(dirname(pointer), { recursive: true });
    symlinkSync(relative(dirname(pointer), blob), pointer);
  }
  for (const ref of refs) {
    const path = join(folder, 'refs', ref);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, commit);
  }
  return folder;
}
