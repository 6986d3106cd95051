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

/** The parts of tfjs-backend-cpu's `MathBackendCPU` the kernels below use. */
interface CpuBackendLike {
  data: { get(dataId: object): { values: Float32Array | Int32Array | Uint8Array } };
  makeTensorInfo(shape: number[], dtype: string, values: Float32Array | Int32Array): TensorInfo;
}

const installed = new Set<string>();

/**
 * Makes the backend fast and complete for training: on `wasm` and `cpu` it
 * - registers a one-pass `UnsortedSegmentSum` (wasm has none; cpu's loops over segments with a mask
 *   each, minutes and gigabytes for a 32k-vocabulary embedding gradient), so `tf.gather`'s own
 *   gradient works and is fast;
 * and on `wasm` it
 * - wraps `BatchMatMul` and `_FusedMatMul` so `transposeA`/`transposeB` run as an explicit
 *   `Transpose` followed by a plain matMul: wasm's transposed matMul is 10–30× slower, and
 *   tfjs-core's matMul gradient asks for exactly those transposes.
 * Native backends need nothing. Called by `initBackend` (unless `fastKernels: false`); idempotent.
 *
 * @example
 * ```ts
 * await tf.setBackend('wasm');
 * installFastKernels('wasm');
 * tf.grad((table) => tf.sum(tf.gather(table, ids)))(table); // works, and fast
 * ```
 */
export function installFastKernels(tfjsBackend: string): void {
  if (installed.has(tfjsBackend)) return;
  if (tfjsBackend === 'wasm') {
    replaceKernel('UnsortedSegmentSum', 'wasm', unsortedSegmentSumKernel(wasmMemory));
    for (const kernelName of ['BatchMatMul', '_FusedMatMul']) wrapTransposingMatMul(kernelName, 'wasm');
  } else if (tfjsBackend === 'cpu') {
    replaceKernel('UnsortedSegmentSum', 'cpu', unsortedSegmentSumKernel(cpuMemory));
  } else {
    return;
  }
  installed.add(tfjsBackend);
}

function replaceKernel(kernelName: string, backendName: string, kernelFunc: KernelFunc): void {
  if (getKernel(kernelName, backendName)) unregisterKernel(kernelName, backendName);
  registerKernel({ kernelName, backendName, kernelFunc });
}

/** `true` when {@link installFastKernels} has patched this tfjs backend. */
export function hasFastKernels(tfjsBackend: string): boolean {
  return installed.has(tfjsBackend);
}

type NumericArray = Float32Array | Int32Array | Uint8Array;

/** Reads inputs and allocates the output on one backend, so one segment-sum loop serves both. */
interface HostMemory {
  allocate(shape: number[], dtype: TensorInfo['dtype']): { info: TensorInfo; values: () => NumericArray };
  read(info: TensorInfo): NumericArray;
}

function wasmMemory(backend: unknown): HostMemory {
  const wasm = backend as WasmBackendLike;
  return {
    allocate: (shape, dtype) => {
      const info = wasm.makeOutput(shape, dtype);
      return { info, values: () => wasm.typedArrayFromHeap(info) };
    },
    // Heap views go stale when the wasm memory grows: read only after allocating.
    read: (info) => wasm.typedArrayFromHeap(info),
  };
}

function cpuMemory(backend: unknown): HostMemory {
  const cpu = backend as CpuBackendLike;
  return {
    allocate: (shape, dtype) => {
      const size = shape.reduce((a, b) => a * b, 1);
      const values = dtype === 'int32' ? new Int32Array(size) : new Float32Array(size);
      return { info: cpu.makeTensorInfo(shape, dtype, values), values: () => values };
    },
    read: (info) => cpu.data.get(info.dataId).values,
  };
}

/**
 * `out[segmentIds[i], …] += x[i, …]` in one pass. wasm has no UnsortedSegmentSum kernel; the cpu
 * one loops over segments with a mask each — O(segments × rows × width) time and garbage, minutes
 * and gigabytes for an embedding gradient over a 32k vocabulary.
 */
function unsortedSegmentSumKernel(memoryOf: (backend: unknown) => HostMemory): KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const memory = memoryOf(backend);
    const x = inputs.x!;
    const segmentIds = inputs.segmentIds!;
    const numSegments = attrs!.numSegments as number;
    const rows = segmentIds.shape.reduce((a, b) => a * b, 1);
    const inner = rows === 0 ? 0 : x.shape.reduce((a, b) => a * b, 1) / rows;
    const out = memory.allocate([numSegments, ...x.shape.slice(segmentIds.shape.length)], x.dtype);
    const outValues = out.values();
    const xValues = memory.read(x);
    const ids = memory.read(segmentIds);
    outValues.fill(0);
    for (let row = 0; row < rows; row++) {
      const segment = ids[row]!;
      if (segment < 0 || segment >= numSegments) continue; // TensorFlow drops out-of-range ids
      const source = row * inner;
      const target = segment * inner;
      for (let k = 0; k < inner; k++) outValues[target + k]! += xValues[source + k]!;
    }
    return out.info;
  };
}

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
