import type { BackendSelection } from '@fusechat/backend';
import * as tf from '@tensorflow/tfjs-core';

/** What @tensorflow/tfjs-node-gpu 4.22 (libtensorflow 2.9.1) needs; see the README for the sources. */
export const GPU_REQUIREMENTS =
  'an NVIDIA driver ≥ 450, CUDA 11.2 and cuDNN 8.1 (libcudart.so.11.0, libcublas.so.11, libcudnn.so.8 on the library path)';

/** Whether the pipeline's tensors are computed on a GPU, and if not, why. */
export interface Acceleration {
  /** True when libtensorflow computes on an NVIDIA GPU. */
  readonly gpu: boolean;
  /** One line: what computes, and without a GPU, why not and what to do. */
  readonly notice: string;
}

/**
 * Says whether a backend selection (from `initBackend`) computes on the GPU. `initBackend` reports
 * `tensorflow-gpu` as soon as `@tensorflow/tfjs-node-gpu` loads, but libtensorflow opens the CUDA
 * libraries lazily: without the ones it was built against (CUDA 11.2, cuDNN 8.1) it logs
 * "Could not load dynamic library 'libcudart.so.11.0'" and computes on the host CPU. tfjs-node's
 * backend records which it got (`isUsingGpuDevice`); this reads it.
 *
 * @example
 * ```ts
 * const selection = await initBackend('auto');
 * describeAcceleration(selection).notice;
 * // 'no GPU (tensorflow-gpu: not installed (add @tensorflow/tfjs-node-gpu; …)): computing on wasm'
 * ```
 */
export function describeAcceleration(selection: BackendSelection, backend?: unknown): Acceleration {
  if (selection.name === 'tensorflow-gpu') {
    // tfjs-node's NodeJSKernelBackend; `backend` is for tests that stand in for it.
    const running = backend ?? tf.engine().backend;
    const usingGpu = (running as { isUsingGpuDevice?: unknown } | undefined)?.isUsingGpuDevice;
    if (usingGpu === false)
      return {
        gpu: false,
        notice:
          'no GPU: @tensorflow/tfjs-node-gpu loaded, but libtensorflow registered no GPU device and computes on the CPU ' +
          `(it needs ${GPU_REQUIREMENTS}; its "Could not load dynamic library" lines above name what is missing)`,
      };
    return usingGpu === true
      ? { gpu: true, notice: 'GPU: @tensorflow/tfjs-node-gpu, libtensorflow on its first CUDA device' }
      : {
          gpu: false,
          notice: 'tensorflow-gpu loaded; this tfjs-node does not say whether libtensorflow found a GPU',
        };
  }
  const gpu = selection.attempts.find((attempt) => attempt.name === 'tensorflow-gpu');
  const why = gpu && !gpu.ok ? `tensorflow-gpu: ${gpu.reason}` : 'tensorflow-gpu not requested';
  return { gpu: false, notice: `no GPU (${why}): computing on ${selection.name}` };
}
