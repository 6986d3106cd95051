import { availableParallelism } from 'node:os';
import { isFuseChatError, type Logger } from '@fusechat/core';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { afterEach, describe, expect, it } from 'vitest';
import { describeBackend } from './describe-backend.js';
import { initBackend, type ModuleImporter, resetBackendSelection } from './init-backend.js';

/** What `initBackend` reports for wasm by default: the idle cores (load-dependent), at most tfjs's 8. */
const defaultWasmDetail =
  /^SIMD, (single-threaded|\d+ threads)( \(\d+\.\d of \d+ cores idle; --threads \d+ to use them all\))?$/;

function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const push = (message: string) => lines.push(message);
  return { lines, debug: push, info: push, warn: push, error: push };
}

function notFound(specifier: string): Error {
  return Object.assign(new Error(`Cannot find package '${specifier}' imported from /x.js`), {
    code: 'ERR_MODULE_NOT_FOUND',
  });
}

/** Pretends `present` packages load and register a "tensorflow" backend (a CPU backend underneath). */
function fakeImporter(
  present: Record<string, 'registers' | 'registers-without-gpu' | 'silent' | 'broken-binding'>,
): ModuleImporter {
  return async (specifier) => {
    const behaviour = present[specifier];
    if (behaviour === 'registers') {
      if (!tf.findBackendFactory('tensorflow')) tf.registerBackend('tensorflow', () => new MathBackendCPU());
      return { version: 'fake' };
    }
    if (behaviour === 'registers-without-gpu') {
      // tfjs-node-gpu's NodeJSKernelBackend where libtensorflow found no usable GPU.
      if (!tf.findBackendFactory('tensorflow'))
        tf.registerBackend('tensorflow', () =>
          Object.assign(new MathBackendCPU(), { isGPUPackage: true, isUsingGpuDevice: false }),
        );
      return { version: 'fake' };
    }
    if (behaviour === 'silent') return {};
    if (behaviour === 'broken-binding')
      throw new Error('The Node.js native addon module (tfjs_binding.node) can not be found at path: /x');
    if (specifier.startsWith('@tensorflow/tfjs-node')) throw notFound(specifier);
    return import(specifier);
  };
}

afterEach(async () => {
  resetBackendSelection();
  if (tf.findBackendFactory('tensorflow')) {
    await tf.setBackend('cpu');
    tf.removeBackend('tensorflow');
  }
});

describe('initBackend', () => {
  it('falls back from the missing native packages to wasm and says why in one line', async () => {
    const logger = recordingLogger();
    const selection = await initBackend('auto', { logger, importer: fakeImporter({}) });
    expect(selection.name).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(selection.attempts.map((a) => [a.name, a.ok])).toEqual([
      ['tensorflow-gpu', false],
      ['tensorflow', false],
      ['wasm', true],
    ]);
    expect(selection.attempts[0]!.reason).toBe(
      'not installed (add @tensorflow/tfjs-node-gpu; its install downloads libtensorflow)',
    );
    expect(selection.attempts[1]!.reason).toBe(
      'not installed (add @tensorflow/tfjs-node; its install downloads libtensorflow)',
    );
    expect(logger.lines).toHaveLength(1);
    expect(logger.lines[0]).toMatch(/^backend: wasm \[SIMD, [^\]]+\] \(tensorflow-gpu: not installed/);
    expect(selection.attempts[2]!.reason).toMatch(defaultWasmDetail);
    expect(selection.threads).toBeGreaterThanOrEqual(1);
    expect(selection.threads).toBeLessThanOrEqual(Math.min(availableParallelism(), 8));
    expect(logger.lines[0]).not.toContain('\n');
  });

  it('falls back with the real module loader (packages absent or without their native binding)', async () => {
    const logger = recordingLogger();
    const selection = await initBackend('auto', { logger });
    expect(selection.name).toBe('wasm');
    for (const attempt of selection.attempts.slice(0, 2))
      expect(attempt.reason).toMatch(/^(not installed|installed without its native binding)/);
    expect(logger.lines).toHaveLength(1);
  });

  it('takes tensorflow-gpu first when it loads', async () => {
    const selection = await initBackend('auto', {
      quiet: true,
      importer: fakeImporter({ '@tensorflow/tfjs-node-gpu': 'registers' }),
    });
    expect(selection).toEqual({ name: 'tensorflow-gpu', attempts: [{ name: 'tensorflow-gpu', ok: true }] });
    expect(tf.getBackend()).toBe('tensorflow');
  });

  it('says so when tfjs-node-gpu loads but TensorFlow runs on the CPU (no GPU, another CUDA)', async () => {
    const logger = recordingLogger();
    const selection = await initBackend('auto', {
      logger,
      importer: fakeImporter({ '@tensorflow/tfjs-node-gpu': 'registers-without-gpu' }),
    });
    expect(selection.name).toBe('tensorflow-gpu');
    expect(selection.attempts[0]!.reason).toBe(
      'running on the CPU: TensorFlow found no usable GPU (tfjs-node-gpu needs CUDA 11.2 and cuDNN 8.1; see docs/guides/backends.md)',
    );
    expect(logger.lines).toEqual([`backend: tensorflow-gpu [${selection.attempts[0]!.reason}]`]);
  });

  it('takes tensorflow when only the GPU package is missing', async () => {
    const selection = await initBackend('auto', {
      quiet: true,
      importer: fakeImporter({ '@tensorflow/tfjs-node': 'registers' }),
    });
    expect(selection.name).toBe('tensorflow');
    expect(selection.attempts.map((a) => a.ok)).toEqual([false, true]);
  });

  it('reports a package that loads without registering a backend, and a missing native binding', async () => {
    const selection = await initBackend('auto', {
      quiet: true,
      importer: fakeImporter({
        '@tensorflow/tfjs-node-gpu': 'silent',
        '@tensorflow/tfjs-node': 'broken-binding',
      }),
    });
    expect(selection.name).toBe('wasm');
    expect(selection.attempts[0]!.reason).toMatch(/registered no "tensorflow" backend/);
    expect(selection.attempts[1]!.reason).toMatch(
      /without its native binding.*npm rebuild @tensorflow\/tfjs-node,.*pnpm rebuild @tensorflow\/tfjs-node\)$/,
    );
  });

  it('throws BACKEND_UNAVAILABLE with the reason for an explicit backend that cannot run', async () => {
    const error = await initBackend('tensorflow-gpu', { quiet: true, importer: fakeImporter({}) }).catch(
      (caught: unknown) => caught,
    );
    expect(isFuseChatError(error, 'BACKEND_UNAVAILABLE')).toBe(true);
    if (!isFuseChatError(error)) throw error;
    expect(error.details.backend).toBe('tensorflow-gpu');
    expect(error.details.reason).toMatch(/^not installed/);
    expect(error.message).toContain('its install downloads libtensorflow');
  });

  it('rejects unknown names, listing the known ones', async () => {
    const error = await initBackend('webgpu' as 'cpu').catch((caught: unknown) => caught);
    expect(isFuseChatError(error, 'INVALID_INPUT')).toBe(true);
    expect((error as Error).message).toContain('tensorflow-gpu, tensorflow, wasm, cpu');
  });

  it('is idempotent, shares concurrent calls, and switches on an explicit other name', async () => {
    const logger = recordingLogger();
    const [first, concurrent] = await Promise.all([
      initBackend('wasm', { logger }),
      initBackend('auto', { logger }),
    ]);
    expect(concurrent).toBe(first);
    expect(await initBackend('auto', { logger })).toBe(first);
    expect(await initBackend('wasm', { logger })).toBe(first);
    expect(logger.lines).toHaveLength(1);
    const cpu = await initBackend('cpu', { logger });
    expect(cpu.name).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
    expect(await initBackend('auto', { logger })).toBe(cpu);
    const wasmAgain = await initBackend('wasm', { quiet: true });
    expect(wasmAgain.name).toBe('wasm');
    expect(describeBackend()).toMatchObject({
      name: 'wasm',
      tfjsBackend: 'wasm',
      detail: expect.stringMatching(defaultWasmDetail),
      fastKernels: true,
    });
    expect(tf.add(tf.scalar(1), tf.scalar(2)).dataSync()[0]).toBe(3);
  });

  it('rejects a thread count that is not a positive integer', async () => {
    for (const wasmThreads of [0, -1, 1.5, Number.NaN]) {
      const error = await initBackend('wasm', { quiet: true, wasmThreads }).catch(
        (caught: unknown) => caught,
      );
      expect(isFuseChatError(error) && error.code).toBe('INVALID_INPUT');
    }
  });

  it.each(['wasm', 'cpu'] as const)('registers tfjs-core gradients so tf.grad works on %s', async (name) => {
    await initBackend(name, { quiet: true });
    const gradient = tf.grad((x: tf.Tensor) => tf.sum(tf.mul(tf.square(x), tf.sigmoid(x))))(
      tf.tensor1d([1, -2]),
    );
    const expected = [1, -2].map((x) => {
      const s = 1 / (1 + Math.exp(-x));
      return 2 * x * s + x * x * s * (1 - s);
    });
    const actual = Array.from(gradient.dataSync());
    actual.forEach((value, i) => {
      expect(value).toBeCloseTo(expected[i]!, 5);
    });
  });
});

describe('initBackend finds the native package where the application installed it', () => {
  it('resolves @tensorflow/tfjs-node from the current project when @fusechat/backend cannot', async () => {
    const { mkdirSync, mkdtempSync, rmSync, writeFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const app = mkdtempSync(join(tmpdir(), 'fusechat-backend-app-'));
    const pkg = join(app, 'node_modules', '@tensorflow', 'tfjs-node');
    mkdirSync(pkg, { recursive: true });
    writeFileSync(join(app, 'package.json'), '{"name":"my-app","private":true}');
    writeFileSync(
      join(pkg, 'package.json'),
      '{"name":"@tensorflow/tfjs-node","version":"4.22.0","main":"index.js"}',
    );
    // Stands in for tfjs-node: registers a "tensorflow" backend with the tfjs-core the test gives it.
    writeFileSync(
      join(pkg, 'index.js'),
      'globalThis.__fusechatRegisterFakeNative(__filename);\nmodule.exports = { version: "fake" };\n',
    );
    const loadedFrom: string[] = [];
    (globalThis as Record<string, unknown>).__fusechatRegisterFakeNative = (file: string) => {
      loadedFrom.push(file);
      if (!tf.findBackendFactory('tensorflow')) tf.registerBackend('tensorflow', () => new MathBackendCPU());
    };
    const cwd = process.cwd();
    try {
      // From the repository, the package is not installed anywhere @fusechat/backend looks.
      const before = await initBackend('auto', { quiet: true });
      expect(before.attempts.find((a) => a.name === 'tensorflow')?.reason).toMatch(/^not installed/);
      resetBackendSelection();
      process.chdir(app);
      const selection = await initBackend('tensorflow', { quiet: true });
      expect(selection.name).toBe('tensorflow');
      expect(tf.getBackend()).toBe('tensorflow');
      expect(loadedFrom).toEqual([join(pkg, 'index.js')]);
    } finally {
      process.chdir(cwd);
      delete (globalThis as Record<string, unknown>).__fusechatRegisterFakeNative;
      rmSync(app, { recursive: true, force: true });
    }
  });

  it('takes the module the application passes in, for a named backend only', async () => {
    // The application imported tfjs-node itself: importing it registered the backend.
    tf.registerBackend('tensorflow', () => new MathBackendCPU());
    const module = { version: 'given' };
    const asked: string[] = [];
    const importer: ModuleImporter = async (specifier) => {
      asked.push(specifier);
      return fakeImporter({})(specifier);
    };
    const selection = await initBackend('tensorflow', { quiet: true, module, importer });
    expect(selection.name).toBe('tensorflow');
    expect(asked).not.toContain('@tensorflow/tfjs-node');
    resetBackendSelection();
    await expect(initBackend('auto', { quiet: true, module })).rejects.toMatchObject({
      code: 'INVALID_INPUT',
    });
  });
});
