// Test helper: runs test/reference.py (python3 + numpy, an independent implementation).
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const script = join(dirname(fileURLToPath(import.meta.url)), 'reference.py');

const probe = spawnSync('python3', ['-c', 'import numpy'], { encoding: 'utf8' });
const missingPython = probe.error
  ? `python3 not found (${probe.error.message})`
  : probe.status !== 0
    ? `python3 cannot import numpy: ${probe.stderr.trim().split('\n').at(-1)}`
    : undefined;
// CI must run the interop tests: there a missing numpy fails them instead of skipping them.
const inCi = Boolean(process.env.CI) && !['0', 'false'].includes(process.env.CI!.toLowerCase());

/** Why the numpy reference cannot run here, or undefined when it can (always undefined under CI). */
export const pythonUnavailable: string | undefined = inCi ? undefined : missingPython;

if (missingPython && inCi)
  console.warn(`[safetensors] numpy reference tests will FAIL: ${missingPython} (CI is set).`);
else if (pythonUnavailable)
  console.warn(
    `[safetensors] SKIPPING numpy reference tests: ${pythonUnavailable}. Install python3 with numpy to run them.`,
  );

/** Runs `reference.py <args>` and returns its stdout; throws with stderr on failure. */
export function runReference(...args: string[]): string {
  const result = spawnSync('python3', [script, ...args], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  if (result.error) throw result.error;
  if (result.status !== 0)
    throw new Error(`reference.py ${args[0]} failed (${result.status}): ${result.stderr}`);
  return result.stdout;
}
