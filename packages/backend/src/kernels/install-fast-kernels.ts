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

/**
 * Below this many multiply-adds per batch item (m·k·n), tfjs's own batched loop is cheaper than a
 * copy and an XNNPACK operator per item.
 */
const SLICED_BATCH_MIN_MACS = 32 ** 3;

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
    const sliced =
      kernelName === 'BatchMatMul' && slicedBatchShape(inputs.a!, inputs.b!, transposeA, transposeB);
    if (!transposeA && !transposeB && !sliced) return originalFunc(args);
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
      const plainAttrs = { ...attrs, transposeA: false, transposeB: false };
      if (sliced)
        return slicedBatchMatMul(
          wasm,
          a,
          b,
          (x, y) => originalFunc({ inputs: { a: x, b: y }, backend, attrs: plainAttrs }) as TensorInfo,
        );
      return originalFunc({ inputs: { ...inputs, a, b }, backend, attrs: plainAttrs });
    } finally {
      for (const temporary of temporaries) wasm.disposeData(temporary.dataId);
    }
  };
  const config: KernelConfig = { ...original, kernelFunc };
  unregisterKernel(kernelName, backendName);
  registerKernel(config);
}

/**
 * Whether a float32 BatchMatMul should run item by item: more than one batch item, the same
 * leading axes on both sides (or one side unbatched), and items big enough. tfjs-backend-wasm
 * 4.22 sends every product with a batch > 1 to a scalar, single-threaded triple loop
 * (`slow_batch_matmul` in batch_mat_mul_impl.cc); only batch-1 products reach XNNPACK (SIMD,
 * and the thread pool).
 */
function slicedBatchShape(a: TensorInfo, b: TensorInfo, transposeA: boolean, transposeB: boolean): boolean {
  if (a.dtype !== 'float32' || b.dtype !== 'float32' || a.shape.length < 3 || b.shape.length < 3)
    return false;
  const leadA = a.shape.slice(0, -2);
  const leadB = b.shape.slice(0, -2);
  const batchA = leadA.reduce((x, y) => x * y, 1);
  const batchB = leadB.reduce((x, y) => x * y, 1);
  const sameLead = leadA.length === leadB.length && leadA.every((size, axis) => size === leadB[axis]);
  if (!(sameLead || batchA === 1 || batchB === 1) || Math.max(batchA, batchB) < 2) return false;
  const m = transposeA ? a.shape.at(-1)! : a.shape.at(-2)!;
  const k = transposeA ? a.shape.at(-2)! : a.shape.at(-1)!;
  const n = transposeB ? b.shape.at(-2)! : b.shape.at(-1)!;
  return m * k * n >= SLICED_BATCH_MIN_MACS;
}

/**
 * `a [..., m, k] · b [..., k, n]` as one batch-1 product per item (XNNPACK), copied in and out
 * of the heap. The item results are exactly what a batch-1 matMul of the same item gives.
 */
function slicedBatchMatMul(
  wasm: WasmBackendLike,
  a: TensorInfo,
  b: TensorInfo,
  matMul: (a: TensorInfo, b: TensorInfo) => TensorInfo,
): TensorInfo {
  const [m, k] = a.shape.slice(-2) as [number, number];
  const n = b.shape.at(-1)!;
  const batchA = a.shape.slice(0, -2).reduce((x, y) => x * y, 1);
  const batchB = b.shape.slice(0, -2).reduce((x, y) => x * y, 1);
  const batch = Math.max(batchA, batchB);
  const lead = (batchA >= batchB ? a : b).shape.slice(0, -2);
  const out = wasm.makeOutput([...lead, m, n], 'float32');
  const itemA = batchA === 1 ? a : undefined;
  const itemB = batchB === 1 ? b : undefined;
  for (let item = 0; item < batch; item++) {
    const left = itemA ?? copyItem(wasm, a, item, m * k, [1, m, k]);
    const right = itemB ?? copyItem(wasm, b, item, k * n, [1, k, n]);
    const product = matMul(
      left.shape.length === 3 ? left : reshapeInfo(left, [1, m, k]),
      right.shape.length === 3 ? right : reshapeInfo(right, [1, k, n]),
    );
    // Views only after every allocation of this step: allocating may grow (and move) the heap.
    (wasm.typedArrayFromHeap(out) as Float32Array).set(
      wasm.typedArrayFromHeap(product) as Float32Array,
      item * m * n,
    );
    wasm.disposeData(product.dataId);
    if (left !== itemA) wasm.disposeData(left.dataId);
    if (right !== itemB) wasm.disposeData(right.dataId);
  }
  return out;
}

function copyItem(
  wasm: WasmBackendLike,
  x: TensorInfo,
  item: number,
  size: number,
  shape: number[],
): TensorInfo {
  const copy = wasm.makeOutput(shape, 'float32');
  const source = wasm.typedArrayFromHeap(x) as Float32Array;
  (wasm.typedArrayFromHeap(copy) as Float32Array).set(source.subarray(item * size, (item + 1) * size));
  return copy;
}

/** The same data seen with another shape (the wasm kernel reads only `dataId` and `shape`). */
function reshapeInfo(x: TensorInfo, shape: number[]): TensorInfo {
  return { ...x, shape };
}
