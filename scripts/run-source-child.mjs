// Test helper: runs a TypeScript script of the workspace in a real child process (the sources, as
// `pnpm bench` runs them) and, when asked, SIGKILLs it the moment its stdout says so. The kill
// tests of capture, the store and training use it to prove resume after a real crash.
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const hooks = join(dirname(fileURLToPath(import.meta.url)), 'register-source-hooks.mjs');

/**
 * @param {string} script path of the .ts file to run
 * @param {readonly string[]} args its arguments
 * @param {{ cwd: string, killWhen?: (stdout: string) => boolean }} options
 * @returns {Promise<{ code: number | null, killed: boolean, stdout: string, stderr: string }>}
 */
export function runSourceChild(script, args, options) {
  const child = spawn(
    process.execPath,
    ['--conditions=source', '--import', hooks, '--import', 'tsx', script, ...args],
    { cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  let killed = false;
  child.stderr.on('data', (chunk) => {
    stderr += chunk.toString();
  });
  child.stdout.on('data', (chunk) => {
    stdout += chunk.toString();
    if (!killed && options.killWhen?.(stdout)) {
      killed = true;
      child.kill('SIGKILL');
    }
  });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, killed, stdout, stderr }));
  });
}
