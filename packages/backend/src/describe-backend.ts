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
