import { availableParallelism } from 'node:os';
import { KernelHelper } from './kernel-helper.js';
import { MERGE_KERNELS_WASM_BASE64 } from './merge-kernels-binary.js';

/** The exports of merge-kernels.wat (pointers are byte offsets into the arena's memory). */
export interface MergeKernelExports {
  mix2(out: number, a: number, b: number, n: number, ca: number, cb: number): number;
  mix3(out: number, a: number, b: number, c: number, n: number, ca: number, cb: number, cc: number): number;
  squared_change(model: number, base: number, start: number, end: number, sum: number): number;
  squared_change2(
    first: number,
    second: number,
    base: number,
    start: number,
    end: number,
    sums: number,
  ): void;
  ties_deltas2(
    first: number,
    second: number,
    base: number,
    counts: number,
    start: number,
    end: number,
    sums: number,
  ): void;
  low_histogram(bits: number, n: number, bucket: number, low: number): void;
  nth_equal(bits: number, n: number, target: number, count: number): number;
  ties_mix_magnitude(
    base: number,
    first: number,
    second: number,
    start: number,
    end: number,
    firstBelow: number,
    secondBelow: number,
    firstWeight: number,
    secondWeight: number,
    firstSign: number,
    secondSign: number,
    r0: number,
    r1: number,
    r2: number,
    r3: number,
    lambda: number,
  ): number;
  sce_first_pass(
    first: number,
    second: number,
    base: number,
    variance: number,
    counts: number,
    start: number,
    end: number,
    sums: number,
  ): number;
  sce_selected_squares(
    first: number,
    second: number,
    scores: number,
    start: number,
    end: number,
    below: number,
    sums: number,
  ): void;
  sce_erase_mix(
    out: number,
    first: number,
    second: number,
    scores: number,
    start: number,
    end: number,
    below: number,
    firstWeight: number,
    secondWeight: number,
  ): number;
}

/**
 * An arena's kernels and its fixed work areas: the scratch slot (two float64) sums pass through,
 * the 4 × 65536 counters of a streaming histogram (held across reads: claim it), and two tables
 * of 65536 counters for a radix select's low pass (used within one call).
 */
export interface ArenaKernels {
  readonly exports: MergeKernelExports;
  readonly scratch: Float64Array;
  readonly scratchPointer: number;
  readonly counts: Uint32Array;
  readonly low: Uint32Array;
  /** A second low-pass table, for the part of a split low pass the helper counts. */
  readonly low2: Uint32Array;
  /** A float32 work array (e.g. SCE's variances), when the arena was given one. */
  readonly scratchArray: Float32Array | undefined;
  /** Takes the `counts` area for `owner` (zeroed); false when another owner holds it. */
  claimCounts(owner: object): boolean;
  releaseCounts(owner: object): void;
  /**
   * Runs the element-wise kernel `name` over the byte range `[start, end)`: with a helper thread
   * and a large range, the upper part there and the lower part here at the same time (same bytes
   * as one call). `args(lo, hi)` gives the kernel's arguments for a part. Returns the parts'
   * results (one or two).
   */
  split(name: SplitKernel, start: number, end: number, args: (lo: number, hi: number) => number[]): number[];
}

/** The kernels whose elements are independent, so a range splits into parts with the same result. */
export type SplitKernel = 'mix2' | 'mix3' | 'ties_mix_magnitude' | 'sce_erase_mix' | 'low_histogram';
const SPLIT_KERNELS: readonly SplitKernel[] = [
  'mix2',
  'mix3',
  'ties_mix_magnitude',
  'sce_erase_mix',
  'low_histogram',
];
/** Below this many bytes a range runs in one call (a helper round trip costs ~0.1–0.3 ms). */
const SPLIT_MIN_BYTES = 1 << 20;

const SCRATCH_BYTES = 64;
/** The helper thread's control block and arguments (kernel-helper.ts). */
const CONTROL_BYTES = 320;
const COUNTS_BYTES = 4 * 65_536 * 4;
const LOW_BYTES = 65_536 * 4;

const PAGE_BYTES = 65_536;
const ALIGN = 64;
/** wasm32 addresses 4 GiB; the last page is left out so `n × 4` byte counts never wrap. */
const MAX_ARENA_BYTES = 2 ** 32 - PAGE_BYTES;

/** The part of the WebAssembly JS API used here (the package's lib is ES2022 without DOM types). */
interface WasmApi {
  readonly Module: new (bytes: Uint8Array) => object;
  readonly Instance: new (module: object, imports: object) => { readonly exports: unknown };
  readonly Memory: new (descriptor: {
    initial: number;
    maximum: number;
    shared: boolean;
  }) => { readonly buffer: SharedArrayBuffer };
}
const wasm = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;

let compiled: object | null | undefined;
const arenas = new WeakMap<ArrayBufferLike, ArenaKernels>();

function decodeBase64(text: string): Uint8Array {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** The compiled kernels, or undefined where WebAssembly SIMD is unavailable (the JS loops run). */
function kernelsModule(): object | undefined {
  if (compiled === undefined) {
    try {
      if (wasm === undefined) throw new Error('no WebAssembly');
      compiled = new wasm.Module(decodeBase64(MERGE_KERNELS_WASM_BASE64));
    } catch {
      compiled = null;
    }
  }
  return compiled ?? undefined;
}

/** Whether the WebAssembly SIMD kernels can run here. */
export function mergeKernelsAvailable(): boolean {
  return kernelsModule() !== undefined;
}

/**
 * Float32Arrays of the given sizes (zero-filled), all views of one WebAssembly memory that the
 * merge kernels run on in place, so a kernel over them copies nothing. Each array starts on a
 * 64-byte boundary. `scratchElements` adds a float32 work array of that size (`scratchArray`:
 * pages are only committed when a method uses it, e.g. SCE's variances). Undefined when the kernels cannot run here or the arrays do not fit the 4 GiB
 * a wasm32 memory addresses: callers then allocate plain arrays, which the JS loops handle.
 *
 * @example
 * ```ts
 * const [base, model] = allocateKernelArrays([numel, numel]) ?? [new Float32Array(numel), new Float32Array(numel)];
 * ```
 */
export function allocateKernelArrays(
  sizes: readonly number[],
  options: {
    scratchElements?: number;
    /** Let a second thread run part of the element-wise kernels; default: when the machine has 2+ cores. */
    helperThread?: boolean;
    /** Smallest range (bytes) split with the helper; default 1 MiB (tests use small ones). */
    splitMinBytes?: number;
  } = {},
): Float32Array[] | undefined {
  const module = kernelsModule();
  if (module === undefined || wasm === undefined) return undefined;
  const controlOffset = SCRATCH_BYTES + COUNTS_BYTES + 2 * LOW_BYTES;
  let offset = controlOffset + CONTROL_BYTES; // the work areas first
  const scratchElements = options.scratchElements ?? 0;
  const scratchOffset = offset;
  offset += Math.ceil((scratchElements * 4) / ALIGN) * ALIGN;
  const offsets = sizes.map((size) => {
    const at = offset;
    offset += Math.max(1, Math.ceil((size * 4) / ALIGN)) * ALIGN; // distinct starts, even for size 0
    return at;
  });
  if (offset > MAX_ARENA_BYTES) return undefined;
  const pages = Math.max(1, Math.ceil(offset / PAGE_BYTES));
  let memory: { readonly buffer: SharedArrayBuffer };
  let instance: { readonly exports: unknown };
  try {
    memory = new wasm.Memory({ initial: pages, maximum: pages, shared: true });
    instance = new wasm.Instance(module, { env: { memory } });
  } catch {
    return undefined; // the address space (or shared memory) was refused: plain arrays instead
  }
  const exports = instance.exports as unknown as MergeKernelExports;
  const counts = new Uint32Array(memory.buffer, SCRATCH_BYTES, COUNTS_BYTES / 4);
  let countsOwner: object | undefined;
  const helperAllowed = options.helperThread ?? availableParallelism() > 1;
  const splitMinBytes = options.splitMinBytes ?? SPLIT_MIN_BYTES;
  let helper: KernelHelper | undefined;
  let released = false;
  const call = (name: SplitKernel, args: number[]) =>
    (exports[name] as (...values: number[]) => number)(...args);
  arenas.set(memory.buffer, {
    exports,
    scratch: new Float64Array(memory.buffer, 0, 2),
    scratchPointer: 0,
    counts,
    low: new Uint32Array(memory.buffer, SCRATCH_BYTES + COUNTS_BYTES, LOW_BYTES / 4),
    low2: new Uint32Array(memory.buffer, SCRATCH_BYTES + COUNTS_BYTES + LOW_BYTES, LOW_BYTES / 4),
    scratchArray:
      scratchElements > 0 ? new Float32Array(memory.buffer, scratchOffset, scratchElements) : undefined,
    claimCounts(owner) {
      if (countsOwner !== undefined && countsOwner !== owner) return false;
      countsOwner = owner;
      counts.fill(0);
      return true;
    },
    releaseCounts(owner) {
      if (countsOwner === owner) countsOwner = undefined;
    },
    split(name, start, end, args) {
      if (!helperAllowed || released || end - start < splitMinBytes) return [call(name, args(start, end))];
      if (helper === undefined) {
        try {
          helper = new KernelHelper(module, memory, memory.buffer, controlOffset, SPLIT_KERNELS);
        } catch {
          return [call(name, args(start, end))];
        }
      }
      if (!helper.usable) return [call(name, args(start, end))];
      // Split at a 64-byte step from start (each part's vector loop starts at its own start).
      const middle = start + Math.floor((end - start) / 128) * 64;
      helper.start(name, args(middle, end));
      const lower = call(name, args(start, middle));
      return [lower, helper.finish()];
    },
  });
  helpers.set(memory.buffer, () => {
    released = true;
    helper?.terminate();
  });
  return sizes.map((size, j) => new Float32Array(memory.buffer, offsets[j]!, size));
}

const helpers = new WeakMap<ArrayBufferLike, () => void>();

/**
 * Ends the helper thread of the arena `array` lives in (if it started one). The arena's arrays
 * stay usable; later splits run on the calling thread only. Unreleased helpers do not keep the
 * process alive.
 */
export function releaseKernelArrays(array: ArrayBufferView): void {
  helpers.get(array.buffer)?.();
}

/**
 * The kernels that can run on all of `arrays` in place: they must all be views of one arena's
 * memory (see {@link allocateKernelArrays}); otherwise undefined and the caller's JS loop runs.
 */
export function arenaKernels(...arrays: readonly ArrayBufferView[]): ArenaKernels | undefined {
  const buffer = arrays[0]?.buffer;
  if (buffer === undefined) return undefined;
  const kernels = arenas.get(buffer);
  if (kernels === undefined) return undefined;
  for (const array of arrays) if (array.buffer !== buffer) return undefined;
  return kernels;
}
