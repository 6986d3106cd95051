import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writePthreadWorkerFile } from './pthread-worker-file.js';

// A template-literal worker script as tfjs ships it: the `"\n"` escape arrives as a real newline.
const contents = 'var text="a\nb";require("worker_threads");';
const expected = 'var text="a\\nb";require("worker_threads");';

let root: string;
let previous: string | undefined;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'fusechat-worker-file-'));
  previous = process.env.FUSECHAT_CACHE_DIR;
  process.env.FUSECHAT_CACHE_DIR = join(root, 'cache');
});
afterEach(() => {
  if (previous === undefined) delete process.env.FUSECHAT_CACHE_DIR;
  else process.env.FUSECHAT_CACHE_DIR = previous;
  rmSync(root, { recursive: true, force: true });
});

describe('writePthreadWorkerFile', () => {
  it('writes a .cjs file named by the content hash, with the newlines escaped back', () => {
    const path = writePthreadWorkerFile(contents);
    expect(dirname(path)).toBe(join(root, 'cache', 'wasm-threads'));
    expect(path).toMatch(/tfjs-backend-wasm-threaded-simd\.worker\.[0-9a-f]{16}\.cjs$/);
    expect(readFileSync(path, 'utf8')).toBe(expected);
    expect(writePthreadWorkerFile(contents)).toBe(path);
    expect(readdirSync(dirname(path))).toEqual([path.split('/').at(-1)]); // no temporaries left
  });

  it('rewrites a file whose bytes are not the expected ones', () => {
    const path = writePthreadWorkerFile(contents);
    writeFileSync(path, 'process.exit(1)');
    expect(writePthreadWorkerFile(contents)).toBe(path);
    expect(readFileSync(path, 'utf8')).toBe(expected);
  });

  it('falls back to a private temporary directory when the cache cannot be written', () => {
    // Below a regular file, no directory can be made (whoever runs the test, root included).
    writeFileSync(join(root, 'not-a-directory'), '');
    process.env.FUSECHAT_CACHE_DIR = join(root, 'not-a-directory', 'cache');
    const path = writePthreadWorkerFile(contents);
    expect(path.startsWith(join(tmpdir(), 'fusechat-wasm-threads-'))).toBe(true);
    expect(readFileSync(path, 'utf8')).toBe(expected);
    rmSync(dirname(path), { recursive: true, force: true });
  });
});
