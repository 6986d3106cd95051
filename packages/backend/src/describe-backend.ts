import * as tf from '@tensorflow/tfjs-core';
import type { BackendName } from './backend-names.js';
import { currentBackend } from './init-backend.js';
import { hasFastKernels } from './kernels/install-fast-kernels.js';

/** The running backend, for logs, `--version` output and benchmark reports. */
export interface BackendDescription {
  /** The fusechat backend name when {@link initBackend} chose it; `undefined` if tfjs was set up elsewhere. */
  readonly name: BackendName | undefined;
  /** `tf.getBackend()`: `tensorflow`, `wasm`, `cpu`, … */
  readonly tfjsBackend: string;
  /** How it runs (e.g. `SIMD, single-threaded` for wasm), when known. */
  readonly detail: string | undefined;
  /** Whether `installFastKernels` patched this backend. */
  readonly fastKernels: boolean;
  /** Live tensors and their bytes, from `tf.memory()`. */
  readonly numTensors: number;
  readonly numBytes: number;
}

/**
 * Describes the running tfjs backend. Call after {@link initBackend}.
 *
 * @example
 * ```ts
 * await initBackend();
 * const { name, detail } = describeBackend(); // { name: 'wasm', detail: 'SIMD, single-threaded', … }
 * ```
 */
export function describeBackend(): BackendDescription {
  const selection = currentBackend();
  const tfjsBackend = tf.getBackend();
  const memory = tf.memory();
  return {
    name: selection?.name,
    tfjsBackend,
    detail: selection?.attempts[selection.attempts.length - 1]?.reason,
    fastKernels: hasFastKernels(tfjsBackend),
    numTensors: memory.numTensors,
    numBytes: memory.numBytes,
  };
}

/**
 * Bytes of the WebAssembly memory of the running `wasm` backend (`undefined` on any other
 * backend). A wasm heap only grows — `WebAssembly.Memory` cannot shrink — so this is the high-water
 * mark of every tensor the process has held at once, and it stays resident until the process
 * ends; the pipeline's plan counts it as memory later stages cannot get back.
 *
 * @example
 * ```ts
 * await initBackend('wasm');
 * wasmHeapBytes(); // e.g. 16_777_216, then more after a large forward pass
 * ```
 */
export function wasmHeapBytes(): number | undefined {
  if (tf.getBackend() !== 'wasm') return undefined;
  const module = (
    tf.backend() as unknown as {
      wasm?: { wasmMemory?: { buffer: ArrayBufferLike }; HEAPU8?: Uint8Array };
    }
  ).wasm;
  return (module?.wasmMemory?.buffer ?? module?.HEAPU8?.buffer)?.byteLength;
}
