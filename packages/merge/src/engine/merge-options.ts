import type { Logger, ProgressCallback } from '@fusechat/core';
import type { MergeRegistry } from '../merge-registry.js';

/** Options of `mergeModels`. */
export interface MergeModelsOptions {
  /** Output directory. Refused when it exists unless `overwrite`. */
  readonly out: string;
  /** Replace an existing output directory (only after the new one is complete). */
  readonly overwrite?: boolean;
  /** Progress of the preflight and of the merge (one unit per tensor). */
  readonly onProgress?: ProgressCallback;
  /** Largest output shard in bytes; default 5 GB (Hugging Face's default). */
  readonly maxShardBytes?: number;
  /**
   * Overlap I/O with math: start reading the next tensor while the merged one is still being
   * written (the buffer the write reads from waits for it), and compute per-element statistics on
   * the pieces of a tensor already read. Default `true`; `false` runs read → merge → write
   * strictly one after the other (same memory: one float32 buffer per input either way, unless
   * `workers` is set).
   */
  readonly prefetch?: boolean;
  /**
   * Worker threads merging whole tensors in parallel (built-in methods only; a custom method runs
   * on the main thread); each works on its own set of input buffers. Default 0: on 2 shared cores
   * one thread whose reads and writes overlap its math (`prefetch`) measured faster.
   */
  readonly workers?: number;
  /**
   * `wasm` (default): the input buffers live in one shared WebAssembly memory and the hot loops
   * (linear/VaRM mixing and the mean squared change, TIES' and SCE's passes) run there as
   * WebAssembly SIMD, the element-wise ones split with a helper thread on machines with 2+ cores;
   * the output bytes are those of the JS loops. It falls back to the JS loops where WebAssembly
   * SIMD or shared memory is missing, the buffers exceed 4 GiB, and with `workers`. `js`: the JS
   * loops only (for comparison).
   */
  readonly kernels?: 'wasm' | 'js';
  /**
   * Turns a model reference that is not a local directory into one — e.g. a Hugging Face id
   * `ORG/NAME[@revision]` via `resolveModelReference` of `@fusechat/hub` (what `fusechat merge`
   * passes). Without it, references are local paths only.
   */
  readonly resolveModel?: (reference: string, context: { baseDir: string }) => Promise<string>;
  /** Merge methods to choose from; default the built-ins. */
  readonly registry?: MergeRegistry;
  /** Where warnings go (ignored keys, cropped embeddings…). */
  readonly logger?: Logger;
  /** Directory relative model paths are resolved against; default `process.cwd()` (as mergekit). */
  readonly cwd?: string;
}
