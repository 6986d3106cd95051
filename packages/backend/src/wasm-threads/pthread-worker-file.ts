import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Writes the Emscripten pthread worker script of tfjs-backend-wasm to a file and returns its path.
 *
 * tfjs ships the script only as a string (`wasmWorkerContents`) and hands it to `new Worker()` as
 * a `blob:` URL, which Node's `worker_threads` rejects; a worker needs a file. The file lives in
 * the user's cache directory (`$FUSECHAT_CACHE_DIR`, else `$XDG_CACHE_HOME/fusechat`, else
 * `~/.cache/fusechat`) under a name carrying the content's hash, so versions never clash and
 * concurrent processes agree (written to a temporary name, then renamed). An existing file is
 * reused only if its bytes are the expected ones. When the cache cannot be written, a private
 * temporary directory is used instead and removed at exit.
 *
 * @param contents the worker script (tfjs's `wasmWorkerContents`, a template-literal string)
 */
export function writePthreadWorkerFile(contents: string): string {
  // tfjs's own locateFile does the same before making its Blob: the template literal turned the
  // script's `"\n"` escapes into real newlines inside string literals.
  const script = contents.replace(/\n/g, '\\n');
  const hash = createHash('sha256').update(script).digest('hex').slice(0, 16);
  // `.cjs`: the script uses require(), and a `.js` file under a `"type": "module"` package would be ESM.
  const name = `tfjs-backend-wasm-threaded-simd.worker.${hash}.cjs`;
  try {
    const dir = join(cacheDirectory(), 'wasm-threads');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const path = join(dir, name);
    if (readIfExists(path) === script) return path;
    const temporary = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    writeFileSync(temporary, script, { mode: 0o600 });
    renameSync(temporary, path);
    return path;
  } catch {
    const dir = mkdtempSync(join(tmpdir(), 'fusechat-wasm-threads-'));
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, name);
    writeFileSync(path, script, { mode: 0o600 });
    return path;
  }
}

function cacheDirectory(): string {
  const explicit = process.env.FUSECHAT_CACHE_DIR;
  if (explicit) return explicit;
  const xdg = process.env.XDG_CACHE_HOME;
  return xdg ? join(xdg, 'fusechat') : join(homedir(), '.cache', 'fusechat');
}

function readIfExists(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}
