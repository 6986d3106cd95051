// Test-only: the contents of a flat directory, for "byte-identical" assertions (stores, resumes).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Every file name of `dir` (sorted) → its bytes as base64: equal snapshots mean identical directories. */
export function snapshotDirectory(dir: string): Record<string, string> {
  return Object.fromEntries(
    readdirSync(dir)
      .sort()
      .map((name) => [name, readFileSync(join(dir, name)).toString('base64')]),
  );
}
