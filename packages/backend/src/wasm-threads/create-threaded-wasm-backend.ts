import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { KernelBackend } from '@tensorflow/tfjs-core';
import { MAX_WASM_THREADS } from './max-wasm-threads.js';
import { writePthreadWorkerFile } from './pthread-worker-file.js';

/** The parts of the `@tensorflow/tfjs-backend-wasm` module this file uses. */
export interface WasmPackage {
  BackendWasm: new (module: unknown) => KernelBackend;
  setThreadsCount(threads: number): void;
  getThreadsCount(): number;
}

export interface ThreadedWasmOptions {
  /** Threads XNNPACK computes with, the calling thread included (1…{@link MAX_WASM_THREADS}). */
  threads: number;
  /** Directory holding `tfjs-backend-wasm-threaded-simd.wasm`; the installed package's `dist/` by default. */
  wasmDirectory?: string;
  /** Give up (and terminate the workers) when the module is not ready by then; 60 s by default. */
  timeoutMs?: number;
}

/** A threaded wasm backend, built and ready; hand `backend` to `tf.registerBackend`. */
export interface ThreadedWasmBackend {
  readonly backend: KernelBackend;
  /** What XNNPACK reports (`pthreadpool_get_threads_count`). */
  readonly threads: number;
}

interface PThreadLike {
  unusedWorkers: WorkerLike[];
  runningWorkers: WorkerLike[];
  terminateAllThreads(): void;
}

interface WorkerLike {
  onerror?: ((error: unknown) => void) | undefined;
  on(event: 'error', listener: (error: unknown) => void): void;
  off(event: 'error', listener: (error: unknown) => void): void;
  ref(): void;
  unref(): void;
  terminate(): unknown;
}

interface EmscriptenModuleLike {
  PThread?: PThreadLike;
  asm?: Record<string, (...args: unknown[]) => unknown>;
  wasmMemory: { readonly buffer: ArrayBufferLike };
  cwrap(name: string, returnType: string | null, argTypes: string[]): (...args: unknown[]) => unknown;
  [key: string]: unknown;
}

type ModuleFactory = (config: Record<string, unknown>) => Promise<EmscriptenModuleLike>;

/** The slice of the WebAssembly JS API used here (this package compiles without the DOM lib). */
interface WebAssemblyApi {
  instantiate(binary: Uint8Array, imports: object): Promise<{ instance: unknown; module: unknown }>;
}
const webAssembly = (globalThis as unknown as { WebAssembly: WebAssemblyApi }).WebAssembly;

const HEAP_VIEWS = {
  HEAP8: Int8Array,
  HEAPU8: Uint8Array,
  HEAP16: Int16Array,
  HEAPU16: Uint16Array,
  HEAP32: Int32Array,
  HEAPU32: Uint32Array,
  HEAPF32: Float32Array,
  HEAPF64: Float64Array,
} as const;

/**
 * Builds tfjs-backend-wasm's multi-threaded SIMD module in Node and wraps it in the package's own
 * `BackendWasm`, without touching `node_modules`. tfjs 4.22 disables this build under Node
 * (tfjs#3830); three things stand in the way, and this is what is done about each:
 *
 * 1. The pthread workers are started from a `blob:` URL, which `worker_threads` rejects: the
 *    worker script is written to a cache file (see `writePthreadWorkerFile`), and the workers
 *    load the package's own `wasm-out/tfjs-backend-wasm-threaded-simd.js` from disk (its source,
 *    not the bundled function's `toString()`, which references bundler-renamed globals).
 * 2. XNNPACK sizes its pool as `min(requested, 8, emscripten_num_logical_cores() / 2)` — the
 *    division assumes two hyper-threads per core — and in Node that import returns
 *    `os.cpus().length`, read once when the module's static constructors run. On a 2-core
 *    machine that is 1, whatever `setThreadsCount` asked for: the "one thread, no speed-up"
 *    seen before. The import is replaced at instantiation so the cap is the requested count.
 * 3. Running pthread workers are `ref()`ed by Emscripten and would keep Node alive forever:
 *    they are `unref()`ed once the pool exists; of the 8 workers Emscripten pre-spawns, all but
 *    the threads − 1 the pool needs are terminated before they load.
 * The module's throwing `uncaughtException`/`unhandledRejection` listeners are removed, and heap
 * views are re-derived whenever the shared memory has grown (another thread may have grown it).
 *
 * @throws when the module cannot be built (no shared memory, a worker failed, timeout); every
 * worker started so far is terminated first.
 *
 * @example
 * ```ts
 * const wasm = await import('@tensorflow/tfjs-backend-wasm');
 * const { backend, threads } = await createThreadedWasmBackend(wasm, { threads: 2 });
 * tf.removeBackend('wasm');
 * tf.registerBackend('wasm', () => backend, 2);
 * await tf.setBackend('wasm'); // matMul now runs on two threads
 * ```
 */
export async function createThreadedWasmBackend(
  wasmPackage: WasmPackage,
  options: ThreadedWasmOptions,
): Promise<ThreadedWasmBackend> {
  const threads = Math.trunc(options.threads);
  if (!(threads >= 1 && threads <= MAX_WASM_THREADS))
    throw new RangeError(`threads must be 1…${MAX_WASM_THREADS}, got ${options.threads}`);
  if (typeof SharedArrayBuffer === 'undefined') throw new Error('SharedArrayBuffer is unavailable');
  const require = createRequire(import.meta.url);
  const packageDirectory = dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json'));
  const factoryPath = join(packageDirectory, 'wasm-out', 'tfjs-backend-wasm-threaded-simd.js');
  const { wasmWorkerContents } = require(
    join(packageDirectory, 'wasm-out', 'tfjs-backend-wasm-threaded-simd.worker.js'),
  ) as { wasmWorkerContents: string };
  const workerPath = writePthreadWorkerFile(wasmWorkerContents);
  const wasmPath = join(
    options.wasmDirectory ?? join(packageDirectory, 'dist'),
    'tfjs-backend-wasm-threaded-simd.wasm',
  );
  const [binary, factory] = [await readFile(wasmPath), require(factoryPath) as ModuleFactory];

  const listenersBefore = processListeners();
  let settled = false;
  let fail: (error: unknown) => void = () => undefined;
  const failed = new Promise<never>((_, reject) => {
    fail = (error) => {
      if (!settled)
        reject(error instanceof Error ? error : new Error(`pthread worker failed: ${String(error)}`));
    };
  });
  failed.catch(() => undefined); // observed by the race below, or not needed
  const config: Record<string, unknown> = {
    mainScriptUrlOrBlob: factoryPath,
    locateFile: (path: string, prefix: string) => {
      if (path.endsWith('.worker.js')) return workerPath;
      if (path.endsWith('.wasm')) return wasmPath;
      return prefix + path;
    },
    instantiateWasm: (
      imports: Record<string, Record<string, unknown>>,
      receive: (instance: unknown, module: unknown) => void,
    ) => {
      for (const namespace of Object.values(imports))
        if (typeof namespace.emscripten_num_logical_cores === 'function')
          namespace.emscripten_num_logical_cores = () => 2 * threads;
      webAssembly.instantiate(binary, imports).then(({ instance, module }) => {
        receive(instance, module);
        // receive() attached Emscripten's worker.onerror, which throws (an uncaught exception)
        // when a worker fails to load: reject the build instead, until it is ready.
        for (const worker of pthread()?.unusedWorkers ?? []) worker.onerror = fail;
      }, fail);
      return {};
    },
    onAbort: (what: unknown) => fail(new Error(`wasm module aborted: ${String(what)}`)),
    printErr: (text: string) => {
      if (settled) process.stderr.write(`${text}\n`);
      else fail(new Error(text));
    },
  };
  const pthread = () => config.PThread as PThreadLike | undefined;

  let timer: NodeJS.Timeout | undefined;
  let module: EmscriptenModuleLike;
  const guards: WorkerLike[] = [];
  try {
    const ready = factory(config);
    ready.catch(() => undefined); // a failure also reaches `failed`; the race reports the first
    removeAddedListeners(listenersBefore);
    // Emscripten pre-spawns 8 workers; the pool needs threads − 1 (the caller is the last thread).
    // Stop the rest now, before each boots a Node isolate and instantiates the module.
    const spare = pthread()?.unusedWorkers.splice(Math.max(0, threads - 1)) ?? [];
    for (const worker of spare) void worker.terminate();
    // Workers exist from here on; without an 'error' listener a failing one crashes the process.
    for (const worker of pthread()?.unusedWorkers ?? []) {
      worker.on('error', fail);
      guards.push(worker);
    }
    const timeoutMs = options.timeoutMs ?? 60_000;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`the threaded wasm module was not ready after ${timeoutMs / 1000} s`)),
        timeoutMs,
      );
    });
    module = await Promise.race([ready, failed, timeout]);
  } catch (error) {
    settled = true;
    removeAddedListeners(listenersBefore);
    try {
      pthread()?.terminateAllThreads();
    } catch {
      // Nothing more to release.
    }
    throw error;
  } finally {
    clearTimeout(timer);
  }
  settled = true;
  for (const worker of guards) {
    worker.off('error', fail);
    // Emscripten's handler again: a pthread dying mid-computation must not go unnoticed.
    worker.onerror = (error: unknown) => {
      throw error;
    };
  }
  refreshHeapViewsOnGrowth(module);
  keepProcessListenersOnDispose(module);
  module.tfjs = {
    init: module.cwrap('init', null, []),
    initWithThreadsCount: module.cwrap('init_with_threads_count', null, ['number']),
    getThreadsCount: module.cwrap('get_threads_count', 'number', []),
    registerTensor: module.cwrap('register_tensor', null, ['number', 'number', 'number']),
    disposeData: module.cwrap('dispose_data', null, ['number']),
    dispose: module.cwrap('dispose', null, []),
  };

  const pool = module.PThread!;
  try {
    wasmPackage.setThreadsCount(threads);
    // The constructor creates XNNPACK's pthreadpool: threads − 1 pthreads (the caller is the last).
    const backend = new wasmPackage.BackendWasm(module);
    for (const worker of pool.runningWorkers) worker.unref();
    for (const worker of pool.unusedWorkers.splice(0)) void worker.terminate();
    return { backend, threads: wasmPackage.getThreadsCount() };
  } catch (error) {
    pool.terminateAllThreads();
    throw error;
  }
}

type ProcessListener = (...args: never[]) => unknown;

function processListeners(): Record<'uncaughtException' | 'unhandledRejection', ProcessListener[]> {
  return {
    uncaughtException: process.listeners('uncaughtException'),
    unhandledRejection: process.listeners('unhandledRejection'),
  };
}

/** Emscripten's Node prelude installs listeners that rethrow every error: not ours to keep. */
function removeAddedListeners(before: ReturnType<typeof processListeners>): void {
  for (const listener of process.listeners('uncaughtException'))
    if (!before.uncaughtException.includes(listener)) process.removeListener('uncaughtException', listener);
  for (const listener of process.listeners('unhandledRejection'))
    if (!before.unhandledRejection.includes(listener)) process.removeListener('unhandledRejection', listener);
}

/**
 * tfjs's post-script wraps `_dispose` to remove "the listeners the module added", but its filter
 * selects every listener of the process (including the test runner's): dispose without that.
 */
function keepProcessListenersOnDispose(module: EmscriptenModuleLike): void {
  const dispose = module.asm?.dispose;
  if (typeof dispose === 'function') module._dispose = () => dispose();
}

/**
 * Growing shared memory does not detach the old buffer, so a view can silently cover only the
 * old size; Emscripten refreshes its own views lazily, but `BackendWasm` reads `module.HEAPU8`
 * and friends directly. Re-derive each view whenever the memory's buffer has changed.
 */
function refreshHeapViewsOnGrowth(module: EmscriptenModuleLike): void {
  for (const [name, View] of Object.entries(HEAP_VIEWS)) {
    let view = module[name] as InstanceType<typeof View>;
    Object.defineProperty(module, name, {
      configurable: true,
      enumerable: true,
      get: () => {
        const buffer = module.wasmMemory.buffer;
        if (view.buffer !== buffer) view = new View(buffer as ArrayBuffer);
        return view;
      },
      set: (next: InstanceType<typeof View>) => {
        view = next;
      },
    });
  }
}
