import { Worker } from 'node:worker_threads';
import { FuseChatError } from '@fusechat/core';

/**
 * A second thread for an arena's element-wise kernels: it instantiates the same module on the
 * same shared memory and runs the upper part of a range while the calling thread runs the lower
 * part. Calls stay synchronous (the caller blocks in `Atomics.wait` for the helper's half), so
 * the methods that call kernels need no change; results are the same bytes as one call, as every
 * element is computed by the same instructions either way.
 *
 * Protocol over an Int32Array `control` in the shared memory: [state, function, argument count,
 * unused], state 0 idle → 1 job posted (by the caller) → 2 done or 3 failed (by the helper) → 0
 * (by the caller, after reading the result from `args[31]`).
 */
export class KernelHelper {
  readonly #worker: Worker;
  readonly #control: Int32Array;
  readonly #args: Float64Array;
  readonly #names: readonly string[];
  #broken = false;

  constructor(
    module: object,
    memory: object,
    buffer: SharedArrayBuffer,
    controlOffset: number,
    names: readonly string[],
  ) {
    this.#control = new Int32Array(buffer, controlOffset, 4);
    this.#args = new Float64Array(buffer, controlOffset + 16, 32);
    this.#names = names;
    this.#worker = new Worker(HELPER_SOURCE, {
      eval: true,
      workerData: { module, memory, controlOffset, names },
    });
    // A merge that forgets to release its arena does not keep the process alive.
    this.#worker.unref();
    this.#worker.on('error', () => {
      this.#broken = true;
    });
  }

  /** False once the helper failed: callers then run whole ranges themselves. */
  get usable(): boolean {
    return !this.#broken;
  }

  /** Posts `name(...args)` to the helper; {@link finish} waits for its result. */
  start(name: string, args: readonly number[]): void {
    const index = this.#names.indexOf(name);
    if (index < 0 || args.length > 31) throw new Error(`KernelHelper: cannot run ${name}`);
    for (let i = 0; i < args.length; i++) this.#args[i] = args[i]!;
    this.#control[1] = index;
    this.#control[2] = args.length;
    Atomics.store(this.#control, 0, 1);
    Atomics.notify(this.#control, 0);
  }

  /** The posted call's result (blocks until the helper is done). */
  finish(): number {
    const control = this.#control;
    for (;;) {
      const state = Atomics.load(control, 0);
      if (state === 2 || state === 3) break;
      Atomics.wait(control, 0, state, 1000);
    }
    const failed = Atomics.load(control, 0) === 3;
    const result = this.#args[31]!;
    Atomics.store(control, 0, 0);
    if (failed) {
      this.#broken = true;
      throw new FuseChatError(
        'MERGE_KERNEL_HELPER_FAILED',
        "The merge kernels' helper thread failed (a WebAssembly trap); rerun with --kernels js and report it.",
      );
    }
    return result;
  }

  terminate(): void {
    this.#broken = true;
    void this.#worker.terminate();
  }
}

// Plain JS (eval'd): no file to locate in the sources, the package build or a user's bundle.
const HELPER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { module, memory, controlOffset, names } = workerData;
const exports = new WebAssembly.Instance(module, { env: { memory } }).exports;
const control = new Int32Array(memory.buffer, controlOffset, 4);
const args = new Float64Array(memory.buffer, controlOffset + 16, 32);
for (;;) {
  let state = Atomics.load(control, 0);
  while (state !== 1) {
    Atomics.wait(control, 0, state);
    state = Atomics.load(control, 0);
  }
  try {
    const call = Array.from(args.subarray(0, control[2]));
    args[31] = exports[names[control[1]]](...call) ?? 0;
    Atomics.store(control, 0, 2);
  } catch {
    Atomics.store(control, 0, 3);
  }
  Atomics.notify(control, 0);
}
`;
