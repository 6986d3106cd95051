import {
  getKernel,
  type KernelConfig,
  type KernelFunc,
  registerKernel,
  type TensorInfo,
  unregisterKernel,
} from '@tensorflow/tfjs-core';

/** The parts of tfjs-backend-wasm's `BackendWasm` the kernels below use. */
interface WasmBackendLike {
  makeOutput(shape: number[], dtype: string): TensorInfo;
  typedArrayFromHeap(info: TensorInfo): Float32Array | Int32Array | Uint8Array;
  disposeData(dataId: object): boolean;
}

const installed = new Set<string>();

/**
 * Makes the backend fast and complete for training: on `wasm` it
 * - registers `UnsortedSegmentSum`, which wasm lacks, so `tf.gather`'s own gradient (and
 *   `tf.unsortedSegmentSum`) work;
 * - wraps `BatchMatMul` and `_FusedMatMul` so `transposeA`/`transposeB` run as an explicit
 *   `Transpose` followed by a plain matMul: wasm's transposed matMul is 10–30× slower, and
 *   tfjs-core's matMul gradient asks for exactly those transposes.
 * Other backends need nothing. Called by `initBackend` (unless `fastKernels: false`); idempotent.
 *
 * @example
 * ```ts
 * await tf.setBackend('wasm');
 * installFastKernels('wasm');
 * tf.grad((table) => tf.sum(tf.gather(table, ids)))(table); // works, and fast
 * ```
 */
export function installFastKernels(tfjsBackend: string): void {
  if (tfjsBackend !== 'wasm' || installed.has(tfjsBackend)) return;
  if (!getKernel('UnsortedSegmentSum', 'wasm'))
    registerKernel({
      kernelName: 'UnsortedSegmentSum',
      backendName: 'wasm',
      kernelFunc: unsortedSegmentSumWasm,
    });
  for (const kernelName of ['BatchMatMul', '_FusedMatMul']) wrapTransposingMatMul(kernelName, 'wasm');
  installed.add(tfjsBackend);
}

/** `true` when {@link installFastKernels} has patched this tfjs backend. */
export function hasFastKernels(tfjsBackend: string): boolean {
  return installed.has(tfjsBackend);
}

const unsortedSegmentSumWasm: KernelFunc = ({ inputs, backend, attrs }) => {
  const wasm = backend as WasmBackendLike;
  const x = inputs.x!;
  const segmentIds = inputs.segmentIds!;
  const numSegments = attrs!.numSegments as number;
  const rows = segmentIds.shape.reduce((a, b) => a * b, 1);
  const inner = x.shape.reduce((a, b) => a * b, 1) / Math.max(rows, 1);
  const out = wasm.makeOutput([numSegments, ...x.shape.slice(segmentIds.shape.length)], x.dtype);
  // Heap views go stale when the wasm memory grows: take them after the allocation above.
  const outValues = wasm.typedArrayFromHeap(out);
  const xValues = wasm.typedArrayFromHeap(x);
  const ids = wasm.typedArrayFromHeap(segmentIds);
  outValues.fill(0);
  for (let row = 0; row < rows; row++) {
    const segment = ids[row]!;
    if (segment < 0 || segment >= numSegments) continue; // TensorFlow drops out-of-range ids
    const source = row * inner;
    const target = segment * inner;
    for (let k = 0; k < inner; k++) outValues[target + k]! += xValues[source + k]!;
  }
  return out;
};

function wrapTransposingMatMul(kernelName: string, backendName: string): void {
  const original = getKernel(kernelName, backendName);
  const transpose = getKernel('Transpose', backendName);
  if (!original || !transpose) return;
  const originalFunc = original.kernelFunc;
  const transposeFunc = transpose.kernelFunc;
  const kernelFunc: KernelFunc = (args) => {
    const { inputs, backend, attrs } = args;
    const transposeA = Boolean(attrs?.transposeA);
    const transposeB = Boolean(attrs?.transposeB);
    if (!transposeA && !transposeB) return originalFunc(args);
    const wasm = backend as unknown as WasmBackendLike;
    const swapLastTwo = (x: TensorInfo): TensorInfo => {
      const rank = x.shape.length;
      const perm = [...Array.from({ length: rank - 2 }, (_, i) => i), rank - 1, rank - 2];
      return transposeFunc({ inputs: { x }, backend, attrs: { perm } }) as TensorInfo;
    };
    const temporaries: TensorInfo[] = [];
    try {
      const a = transposeA ? swapLastTwo(inputs.a!) : inputs.a!;
      if (transposeA) temporaries.push(a);
      const b = transposeB ? swapLastTwo(inputs.b!) : inputs.b!;
      if (transposeB) temporaries.push(b);
      return originalFunc({
        inputs: { ...inputs, a, b },
        backend,
        attrs: { ...attrs, transposeA: false, transposeB: false },
      });
    } finally {
      for (const temporary of temporaries) wasm.disposeData(temporary.dataId);
    }
  };
  const config: KernelConfig = { ...original, kernelFunc };
  unregisterKernel(kernelName, backendName);
  registerKernel(config);
}
