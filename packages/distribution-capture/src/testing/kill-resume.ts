// Test-only: the kill-and-resume check both capture kill tests make.
import { join } from 'node:path';
import { expect } from 'vitest';
import { snapshotDirectory } from '../../../../scripts/test-support/snapshot-directory.js';

/**
 * Captures once uninterrupted into `<root>/reference`; then, per kill point, captures into a fresh
 * directory, is SIGKILLed once `killAfter` examples are reported, reruns, and expects the store to
 * be byte-identical to the reference — and the kills to have landed at more than two distinct
 * commit points (not all before the first commit).
 */
export async function expectKillResumeIdentical(options: {
  root: string;
  killPoints: readonly number[];
  /** Runs the capture child into `dir`; kills it after `killAfter` examples when given; resolves to its stdout. */
  run: (dir: string, killAfter?: number) => Promise<string>;
}): Promise<void> {
  const reference = join(options.root, 'reference');
  expect(await options.run(reference)).toContain('finished resumedFrom 0');
  const resumedFrom: number[] = [];
  for (const killAfter of options.killPoints) {
    const dir = join(options.root, `killed-${killAfter}`);
    expect(await options.run(dir, killAfter)).not.toContain('finished');
    const rerun = await options.run(dir);
    resumedFrom.push(Number(/finished resumedFrom (\d+)/.exec(rerun)![1]));
    expect(snapshotDirectory(dir)).toEqual(snapshotDirectory(reference));
  }
  expect(new Set(resumedFrom).size).toBeGreaterThan(2);
}
