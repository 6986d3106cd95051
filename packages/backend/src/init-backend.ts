import { createRequire } from 'node:module';
import { join, resolve as resolvePath } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createConsoleLogger, FuseChatError, InvalidInputError, type Logger } from '@fusechat/core';
import * as tf from '@tensorflow/tfjs-core';
import {
  BACKEND_FALLBACK_ORDER,
  type BackendName,
  type BackendRequest,
  backendInfo,
  isBackendRequest,
} from './backend-names.js';
import { installFastKernels } from './kernels/install-fast-kernels.js';
import { registerCoreGradients } from './kernels/register-core-gradients.js';
import type { WasmPackage } from './wasm-threads/create-threaded-wasm-backend.js';
import { MAX_WASM_THREADS } from './wasm-threads/max-wasm-threads.js';

/** Loads a module by specifier; `(specifier) => import(specifier)` unless a test injects another. */
export type ModuleImporter = (specifier: string) => Promise<unknown>;

/** One backend {@link initBackend} tried, and why it was not taken. */
export interface BackendAttempt {
  readonly name: BackendName;
  readonly ok: boolean;
  /** Why the backend is unavailable (when `ok` is false), or a note about how it runs. */
  readonly reason?: string;
}

/** What {@link initBackend} settled on. */
export interface BackendSelection {
  /** The backend that runs tfjs from now on. */
  readonly name: BackendName;
  /** Every backend tried, in order; the last one is the one that runs. */
  readonly attempts: readonly BackendAttempt[];
  /** Threads the wasm backend computes with (XNNPACK's count); set for `wasm` only. */
  readonly threads?: number;
}

export interface InitBackendOptions {
  /** Where the one-line notice goes; a console logger on stderr by default. */
  logger?: Logger;
  /** No notice at all. */
  quiet?: boolean;
  /**
   * Threads of the wasm backend (the CLI's `--threads`), 1 for single-threaded. By default
   * `os.availableParallelism()` in Node, capped at 8 (tfjs's limit). In Node, more than one
   * thread runs tfjs's threaded SIMD build through `createThreadedWasmBackend`; if that cannot be
   * built, wasm runs single-threaded and the notice says why. Asking a running wasm backend for
   * another count rebuilds it, which needs every tensor on it disposed first.
   */
  wasmThreads?: number;
  /** Directory (or URL prefix) holding the `tfjs-backend-wasm*.wasm` binaries; found automatically in Node. */
  wasmPaths?: string;
  /**
   * Replace tfjs kernels that are missing or slow on the chosen backend (see `installFastKernels`).
   * On by default.
   */
  fastKernels?: boolean;
  /**
   * The backend package itself, already imported by the application (e.g.
   * `initBackend('tensorflow-gpu', { module: await import('@tensorflow/tfjs-node-gpu') })`): used
   * for the explicitly requested backend instead of resolving its package. Not with `auto`.
   */
  module?: unknown;
  /** Module loader, for tests that simulate `@tensorflow/tfjs-node(-gpu)` being present or absent. */
  importer?: ModuleImporter;
}

/**
 * Imports a backend package from where this package is installed, else from where the
 * application installed it: the current project (`process.cwd()`) and the entry script's
 * directory. A package added to the app (or to `packages/cli`) is found although
 * `@fusechat/backend` itself cannot resolve it.
 */
const defaultImporter: ModuleImporter = async (specifier) => {
  try {
    return await import(specifier);
  } catch (error) {
    for (const base of applicationBases()) {
      let resolved: string;
      try {
        resolved = createRequire(base).resolve(specifier);
      } catch {
        continue;
      }
      return import(pathToFileURL(resolved).href);
    }
    throw error;
  }
};

/** Files whose directories an application's `node_modules` are searched from. */
function applicationBases(): string[] {
  const bases = [join(process.cwd(), 'package.json')];
  const entry = process.argv[1];
  if (entry !== undefined && entry !== '') bases.push(resolvePath(entry));
  return bases;
}

let current: BackendSelection | undefined;
let pending: Promise<BackendSelection> | undefined;

/**
 * Chooses and initialises the tfjs backend. `auto` (the default) tries `tensorflow-gpu` →
 * `tensorflow` → `wasm` → `cpu` and takes the first that works; the native backends come from the
 * optional packages `@tensorflow/tfjs-node-gpu` / `@tensorflow/tfjs-node`, which need a
 * libtensorflow download at install time and are therefore often absent. Logs one line saying
 * which backend runs and why the faster ones did not.
 *
 * Idempotent: a second call for `auto` or for the running backend returns the current selection;
 * a call naming another backend switches to it. Concurrent calls share one initialisation.
 *
 * @throws {FuseChatError} code `BACKEND_UNAVAILABLE` when an explicitly requested backend cannot
 * run (details: `backend`, `reason`); `INVALID_INPUT` for an unknown name.
 *
 * @example
 * ```ts
 * const { name, attempts } = await initBackend('auto');
 * // notice on stderr: "backend: wasm (tensorflow-gpu: not installed (…); tensorflow: not installed (…))"
 * await initBackend('wasm', { quiet: true }); // fails loudly if wasm cannot run
 * ```
 */
export async function initBackend(
  request: BackendRequest = 'auto',
  options: InitBackendOptions = {},
): Promise<BackendSelection> {
  if (!isBackendRequest(request))
    throw new InvalidInputError(
      `Unknown backend "${String(request)}". Use one of: auto, ${BACKEND_FALLBACK_ORDER.join(', ')}.`,
      { code: 'INVALID_INPUT', field: 'backend', details: { backend: request } },
    );
  if (
    options.wasmThreads !== undefined &&
    !(Number.isInteger(options.wasmThreads) && options.wasmThreads >= 1)
  )
    throw new InvalidInputError(
      `wasmThreads must be a positive integer, got ${String(options.wasmThreads)}.`,
      {
        code: 'INVALID_INPUT',
        field: 'wasmThreads',
        details: { wasmThreads: options.wasmThreads },
      },
    );
  while (pending) await pending.catch(() => undefined);
  if (current && tf.getBackend() === backendInfo(current.name).tfjsName) {
    const threadsChange =
      current.name === 'wasm' &&
      options.wasmThreads !== undefined &&
      Math.min(options.wasmThreads, MAX_WASM_THREADS) !== current.threads &&
      isNode();
    if ((request === 'auto' || request === current.name) && !threadsChange) return current;
    if (threadsChange) refuseThreadsChangeWithLiveTensors();
  }
  pending = select(request, options);
  try {
    current = await pending;
    return current;
  } finally {
    pending = undefined;
  }
}

/**
 * The running backend as fusechat selected it, or `undefined` before {@link initBackend}.
 *
 * @example
 * ```ts
 * if (currentBackend()?.name !== 'tensorflow-gpu') console.warn('training on CPU will be slow');
 * ```
 */
export function currentBackend(): BackendSelection | undefined {
  return current && tf.getBackend() === backendInfo(current.name).tfjsName ? current : undefined;
}

/** @internal Forget the selection so tests can start over. */
export function resetBackendSelection(): void {
  current = undefined;
  wasmThreads.chosen = false;
}

async function select(request: BackendRequest, options: InitBackendOptions): Promise<BackendSelection> {
  if (options.module !== undefined && request === 'auto') {
    throw new InvalidInputError(
      "initBackend: `module` goes with a named backend (e.g. initBackend('tensorflow-gpu', { module })), not with 'auto'.",
      { code: 'INVALID_INPUT', field: 'module' },
    );
  }
  const given = options.module;
  const baseImporter = options.importer ?? defaultImporter;
  const importer: ModuleImporter =
    given === undefined
      ? baseImporter
      : async (specifier) =>
          specifier === backendInfo(request as BackendName).packageName ? given : baseImporter(specifier);
  const candidates = request === 'auto' ? BACKEND_FALLBACK_ORDER : [request];
  const attempts: BackendAttempt[] = [];
  for (const name of candidates) {
    let attempt: BackendAttempt;
    try {
      attempt = await tryBackend(name, importer, options);
    } catch (error) {
      attempt = { name, ok: false, reason: `failed: ${firstLine(error)}` };
    }
    attempts.push(attempt);
    if (attempt.ok) {
      registerCoreGradients();
      if (options.fastKernels !== false) installFastKernels(backendInfo(name).tfjsName);
      const selection: BackendSelection =
        name === 'wasm'
          ? { name, attempts: Object.freeze(attempts), threads: wasmThreadsRunning() }
          : { name, attempts: Object.freeze(attempts) };
      if (!options.quiet) (options.logger ?? defaultLogger()).info(formatNotice(selection));
      return Object.freeze(selection);
    }
  }
  const failed = attempts[attempts.length - 1]!;
  throw new FuseChatError(
    'BACKEND_UNAVAILABLE',
    request === 'auto'
      ? `No tfjs backend could be initialised: ${attempts.map((a) => `${a.name}: ${a.reason}`).join('; ')}.`
      : `Backend "${request}" is unavailable: ${failed.reason}. Use --backend auto to fall back to the fastest one that works.`,
    { details: { backend: request, reason: failed.reason, attempts } },
  );
}

async function tryBackend(
  name: BackendName,
  importer: ModuleImporter,
  options: InitBackendOptions,
): Promise<BackendAttempt> {
  const info = backendInfo(name);
  let loaded: Record<string, unknown>;
  try {
    // A half-installed tfjs-node registers some kernels, warns about each, then throws: keep quiet.
    loaded = unwrapModule((await withCapturedWarnings(() => importer(info.packageName))).value);
  } catch (error) {
    return { name, ok: false, reason: describeImportFailure(error, info.packageName) };
  }
  let note: string | undefined;
  if (name === 'wasm') note = await prepareWasm(loaded, options);
  if (tf.findBackendFactory(info.tfjsName) === null || tf.findBackendFactory(info.tfjsName) === undefined)
    return {
      name,
      ok: false,
      reason: `${info.packageName} loaded but registered no "${info.tfjsName}" backend with this copy of @tensorflow/tfjs-core (two tfjs-core versions installed? keep them all at 4.22)`,
    };
  const failure = await setBackendCapturingWarnings(info.tfjsName);
  if (failure !== undefined) return { name, ok: false, reason: failure };
  if (name === 'tensorflow-gpu') note = gpuDeviceNote();
  return note === undefined ? { name, ok: true } : { name, ok: true, reason: note };
}

/** Where libtensorflow of tfjs-node-gpu 4.22 finds a GPU (docs/guides/backends.md). */
const TFJS_NODE_GPU_NEEDS = 'CUDA 11.2 and cuDNN 8.1';

/**
 * tfjs-node-gpu loads on any machine, and when libtensorflow finds no GPU it can use (no device,
 * another CUDA or cuDNN version) it runs every op on the CPU without a word; its backend says so
 * in `isUsingGpuDevice`. `undefined` when the device is used or the backend does not tell.
 */
function gpuDeviceNote(): string | undefined {
  const device = (tf.backend() as unknown as { isUsingGpuDevice?: unknown }).isUsingGpuDevice;
  if (device === true) return 'GPU';
  if (device === false)
    return `running on the CPU: TensorFlow found no usable GPU (tfjs-node-gpu needs ${TFJS_NODE_GPU_NEEDS}; see docs/guides/backends.md)`;
  return undefined;
}

/** Points the wasm backend at its binaries on disk and picks threads; returns a note for the attempt. */
async function prepareWasm(wasm: Record<string, unknown>, options: InitBackendOptions): Promise<string> {
  const node = isNode();
  const paths = options.wasmPaths ?? (node ? await locateWasmDist() : undefined);
  if (paths !== undefined && typeof wasm.setWasmPaths === 'function') {
    try {
      wasm.setWasmPaths(paths);
    } catch {
      // Already initialised earlier in this process: its binaries are loaded, nothing to point at.
    }
  }
  const simd = (await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')) === true;
  const simdNote = simd ? 'SIMD' : 'no SIMD';
  if (!node) {
    const threadsWanted = options.wasmThreads ?? 1;
    if (typeof wasm.setThreadsCount === 'function') wasm.setThreadsCount(threadsWanted);
    wasmThreads.registered = threadsWanted;
    return `${simdNote}, ${threadsWanted} thread(s) where the browser allows`;
  }
  // tfjs's own init must never try its threaded binary in Node: it would start workers from
  // blob: URLs, which Node rejects with ERR_WORKER_PATH and an uncaught exception.
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  // Without an explicit count, the first choice in this process stands: re-measuring could ask
  // for a rebuild that live tensors forbid.
  if (options.wasmThreads === undefined && wasmThreads.chosen)
    return wasmThreads.registered === 1 && wasmThreads.failed
      ? `${simdNote}, single-threaded (${wasmThreads.failed.threads} threads failed: ${wasmThreads.failed.reason})`
      : describeThreads(simdNote, wasmThreads.registered, '');
  wasmThreads.chosen = true;
  const measured = options.wasmThreads === undefined ? await defaultWasmThreads() : undefined;
  const requested = options.wasmThreads ?? measured!.threads;
  const wanted = Math.min(requested, MAX_WASM_THREADS);
  const capped =
    requested > wanted
      ? ` (${requested} requested; tfjs-backend-wasm caps XNNPACK at ${MAX_WASM_THREADS})`
      : (measured?.why ?? '');
  if (wanted === wasmThreads.registered) return describeThreads(simdNote, wanted, capped);
  if (wanted === wasmThreads.failed?.threads) {
    restoreTfjsWasmFactory();
    return `${simdNote}, single-threaded (${wanted} threads failed earlier: ${wasmThreads.failed.reason})`;
  }
  if (wanted === 1) {
    restoreTfjsWasmFactory();
    return describeThreads(simdNote, 1, capped);
  }
  if (!simd) {
    restoreTfjsWasmFactory();
    return `${simdNote}, single-threaded (tfjs's threaded wasm build needs SIMD)`;
  }
  if (!isWasmPackage(wasm)) {
    restoreTfjsWasmFactory();
    return `${simdNote}, single-threaded (this @tensorflow/tfjs-backend-wasm exports no BackendWasm/setThreadsCount)`;
  }
  releaseWasmBackend();
  try {
    const { createThreadedWasmBackend } = await import('./wasm-threads/create-threaded-wasm-backend.js');
    const built = await createThreadedWasmBackend(wasm, {
      threads: wanted,
      ...(options.wasmPaths !== undefined && !/^[a-z]+:\/\//i.test(options.wasmPaths)
        ? { wasmDirectory: options.wasmPaths }
        : {}),
    });
    registerWasmFactory(() => built.backend, built.threads);
    return describeThreads(simdNote, built.threads, capped);
  } catch (error) {
    const reason = firstLine(error);
    wasmThreads.failed = { threads: wanted, reason };
    restoreTfjsWasmFactory(true);
    return `${simdNote}, single-threaded (${wanted} threads failed: ${reason})`;
  }
}

function describeThreads(simdNote: string, threads: number, capped: string): string {
  return threads === 1 ? `${simdNote}, single-threaded${capped}` : `${simdNote}, ${threads} threads${capped}`;
}

/** The idle cores now, as `chooseWasmThreads` rounds them (see there for why not all cores). */
async function defaultWasmThreads(): Promise<{ threads: number; why: string }> {
  const { chooseWasmThreads, measureIdleCores } = await import('./wasm-threads/idle-cores.js');
  return chooseWasmThreads(await measureIdleCores(), MAX_WASM_THREADS);
}

type BackendFactory = () => tf.KernelBackend | Promise<tf.KernelBackend>;

/**
 * Which factory is registered for tfjs's "wasm" backend: tfjs's own (`registered` 1:
 * single-threaded in Node) or one returning a threaded backend of `registered` threads; `failed`
 * remembers a threaded build that did not work, so later calls do not retry it.
 */
const wasmThreads: {
  registered: number;
  /** A thread count was chosen in this process (explicitly or measured). */
  chosen?: boolean;
  tfjsFactory?: BackendFactory;
  failed?: { threads: number; reason: string };
} = { registered: 1 };

function wasmThreadsRunning(): number {
  return wasmThreads.registered;
}

/** A rebuilt wasm backend starts empty: its tensors would be lost (tfjs cannot move them off a disposed backend). */
function refuseThreadsChangeWithLiveTensors(): void {
  const registry = (tf.engine() as unknown as { registry: Record<string, tf.KernelBackend | undefined> })
    .registry;
  const live = registry.wasm?.numDataIds() ?? 0;
  if (live > 0)
    throw new InvalidInputError(
      `Cannot change the wasm backend's thread count while ${live} tensor(s) live on it: dispose them first, or choose the threads in the first initBackend call (CLI: --threads).`,
      { code: 'INVALID_INPUT', field: 'wasmThreads', details: { liveTensors: live } },
    );
}

/** Disposes the wasm backend instance (if any) so another can take its name. */
function releaseWasmBackend(): void {
  refuseThreadsChangeWithLiveTensors();
  wasmThreads.tfjsFactory ??= tf.findBackendFactory('wasm') ?? undefined;
  if (tf.findBackendFactory('wasm')) tf.removeBackend('wasm');
}

function registerWasmFactory(factory: BackendFactory, threads: number): void {
  // Same priority as tfjs-backend-wasm's own registration.
  tf.registerBackend('wasm', factory, 2);
  wasmThreads.registered = threads;
}

/** Puts tfjs's own (single-threaded) factory back; `force` after a build released the backend. */
function restoreTfjsWasmFactory(force = false): void {
  if (wasmThreads.registered === 1 && !force) return;
  const original = wasmThreads.tfjsFactory;
  if (tf.findBackendFactory('wasm')) releaseWasmBackend();
  if (original) tf.registerBackend('wasm', original, 2);
  wasmThreads.registered = 1;
}

function isWasmPackage(wasm: Record<string, unknown>): wasm is Record<string, unknown> & WasmPackage {
  return (
    typeof wasm.BackendWasm === 'function' &&
    typeof wasm.setThreadsCount === 'function' &&
    typeof wasm.getThreadsCount === 'function'
  );
}

async function locateWasmDist(): Promise<string | undefined> {
  try {
    const { createRequire } = await import('node:module');
    const { dirname, join, sep } = await import('node:path');
    const require = createRequire(import.meta.url);
    const packageJson = require.resolve('@tensorflow/tfjs-backend-wasm/package.json');
    return join(dirname(packageJson), 'dist') + sep;
  } catch {
    return undefined;
  }
}

/**
 * `tf.setBackend` reports an initialisation failure only as `false` plus console warnings; keep
 * those warnings as the reason instead of letting them through.
 */
async function setBackendCapturingWarnings(tfjsName: string): Promise<string | undefined> {
  let ok: boolean;
  let warnings: string[];
  try {
    ({ value: ok, warnings } = await withCapturedWarnings(async () => {
      const set = await tf.setBackend(tfjsName);
      if (set) await tf.ready();
      return set;
    }));
  } catch (error) {
    return `initialisation failed: ${firstLine(error)}`;
  }
  if (ok && tf.getBackend() === tfjsName) {
    // The cpu backend prints a multi-line "install tfjs-node" banner on first use; the notice of
    // initBackend already says that, in one line.
    const backend = tf.backend() as { firstUse?: boolean };
    if (tfjsName === 'cpu' && backend.firstUse === true) backend.firstUse = false;
    return undefined;
  }
  const detail = warnings.find((line) => !line.startsWith('Initialization of backend')) ?? warnings[0];
  return `initialisation failed${detail ? `: ${detail.split('\n')[0]}` : ''}`;
}

async function withCapturedWarnings<T>(run: () => Promise<T>): Promise<{ value: T; warnings: string[] }> {
  const warnings: string[] = [];
  const originalWarn = console.warn;
  console.warn = (...args: unknown[]) => {
    warnings.push(args.map((arg) => (arg instanceof Error ? arg.message : String(arg))).join(' '));
  };
  try {
    return { value: await run(), warnings };
  } finally {
    console.warn = originalWarn;
  }
}

function describeImportFailure(error: unknown, packageName: string): string {
  const code = (error as { code?: unknown } | null)?.code;
  const message = firstLine(error);
  const missing =
    code === 'ERR_MODULE_NOT_FOUND' ||
    code === 'MODULE_NOT_FOUND' ||
    // Node, webpack-style bundlers, and vite/vitest ("Could not resolve …") word it differently.
    /Cannot find (module|package)|Failed to load url|Failed to resolve|Could not resolve/i.test(message);
  if (missing && message.includes(packageName))
    return `not installed (add ${packageName}; its install downloads libtensorflow)`;
  if (/native addon|tfjs_binding\.node/i.test(message))
    return `installed without its native binding (libtensorflow download failed or its install script did not run; fix: npm rebuild ${packageName}, or under pnpm 10 allow it in onlyBuiltDependencies then pnpm rebuild ${packageName})`;
  if (missing) return `not installed (add ${packageName}; its install downloads libtensorflow): ${message}`;
  return `failed to load: ${message}`;
}

function formatNotice(selection: BackendSelection): string {
  const chosen = selection.attempts[selection.attempts.length - 1]!;
  const others = selection.attempts.filter((attempt) => !attempt.ok);
  const how = chosen.reason ? ` [${chosen.reason}]` : '';
  const why = others.length > 0 ? ` (${others.map((a) => `${a.name}: ${a.reason}`).join('; ')})` : '';
  return `backend: ${selection.name}${how}${why}`;
}

function unwrapModule(loaded: unknown): Record<string, unknown> {
  // Node's ESM view of a CommonJS package may hide the named exports behind `default`.
  const module = (loaded ?? {}) as Record<string, unknown>;
  const inner = module.default;
  return inner !== null && typeof inner === 'object'
    ? { ...(inner as Record<string, unknown>), ...module }
    : module;
}

function defaultLogger(): Logger {
  return createConsoleLogger({ prefix: '[fusechat] ' });
}

function isNode(): boolean {
  return typeof process !== 'undefined' && typeof process.versions?.node === 'string';
}

function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split('\n')[0]!.trim();
}
