import { existsSync } from 'node:fs';
import { copyFile, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { FuseChatError, isFuseChatError } from '@fusechat/core';
import { acquireOutputLock, commitOutputDirectory } from '@fusechat/core/node';
import { type CheckpointWriter, createCheckpointWriter, type TensorArray } from '@fusechat/safetensors';
import { builtinMergeMethods } from '../builtin-merge-methods.js';
import { allocateKernelArrays, releaseKernelArrays } from '../kernels/wasm/kernel-arena.js';
import { addSquaredChange } from '../kernels/weighted-sum.js';
import type { MergeModelsOptions } from './merge-options.js';
import { type MergeReport, renderReportSvg, summariseLayers, type TensorReport } from './merge-report.js';
import { prepareTensorJob, runTensorJob, type TensorJobResult } from './merge-tensor.js';
import type { OpenedModel } from './open-inputs.js';
import { closePlan, type MergePlan, preflightMerge } from './preflight.js';
import { TensorReader } from './tensor-reader.js';
import { MergeWorkerPool } from './worker-pool.js';

const DEFAULT_MAX_SHARD_BYTES = 5_000_000_000;
// Start flushing the output every 64 MiB: the disk writes while we compute, and the final fsync
// (part of the I/O floor) has little left to do.
const BACKGROUND_SYNC_BYTES = 64 << 20;
const CONFIG_FILES = ['config.json', 'generation_config.json'];
const TOKENIZER_FILES = [
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'tokenizer.model',
  'vocab.json',
  'merges.txt',
  'added_tokens.json',
  'chat_template.jinja',
  'chat_template.json',
];
const TORCH_DTYPES: Readonly<Record<string, string>> = {
  F32: 'float32',
  F16: 'float16',
  BF16: 'bfloat16',
  F64: 'float64',
};

/** What `mergeModels` returns. */
export interface MergeModelsResult {
  /** Absolute output directory. */
  readonly out: string;
  readonly tensors: number;
  readonly seconds: number;
  readonly inputBytes: number;
  readonly outputBytes: number;
  readonly warnings: readonly string[];
  /** Where the time went: waiting for reads, merging, waiting for writes (incl. the final fsync). */
  readonly timings: MergeTimings;
  readonly report: MergeReport;
}

/**
 * Merges Hugging Face checkpoints as a mergekit-style config says, streaming one tensor name at
 * a time across all inputs (peak memory ≈ inputs × the largest tensor as float32, the base
 * counting as an input; `workers` × that with workers). Reads, math and writes overlap (see
 * `prefetch`); the output is flushed to disk in the background while the merge runs. Everything is checked first (see `preflightMerge`); the output is written to
 * `<out>.partial-<pid>` and renamed into place only when complete, with `merge-report.json`
 * and `merge-report.svg` beside the weights.
 *
 * @example
 * ```ts
 * import { loadMergeConfig, mergeModels } from '@fusechat/merge';
 * const result = await mergeModels(await loadMergeConfig('varm.yml'), {
 *   out: 'fused-model',
 *   onProgress: (event) => console.log(event.completed, '/', event.total),
 * });
 * console.log(result.report.tensors[0]?.weights);
 * ```
 */
export async function mergeModels(config: unknown, options: MergeModelsOptions): Promise<MergeModelsResult> {
  // One merge per output at a time: a second one fails with OUTPUT_LOCKED instead of silently
  // replacing the first one's result (a dead merge's lock is taken over).
  let lock: Awaited<ReturnType<typeof acquireOutputLock>>;
  try {
    lock = await acquireOutputLock(resolve(options.cwd ?? process.cwd(), options.out));
  } catch (error) {
    // An output that cannot even hold a lock (a file as parent, no permission) is one of the
    // preflight's problems: let it list every problem at once; the lock error if it found none.
    if (!isFuseChatError(error, 'OUTPUT_LOCKED')) await closePlan(await preflightMerge(config, options));
    throw error;
  }
  try {
    return await mergeModelsLocked(config, options);
  } finally {
    await lock.release();
  }
}

async function mergeModelsLocked(config: unknown, options: MergeModelsOptions): Promise<MergeModelsResult> {
  const started = performance.now();
  const plan = await preflightMerge(config, options);
  const temp = `${plan.out}.partial-${process.pid}`;
  try {
    await rm(temp, { recursive: true, force: true });
    const timings: MergeTimings = { readWait: 0, compute: 0, writeWait: 0 };
    const tensorReports = await writeWeights(plan, temp, options, timings);
    await copySideFiles(plan, temp);
    const seconds = (performance.now() - started) / 1000;
    const modelNames = plan.models.map((model) => model.reference);
    const report: MergeReport = {
      formatVersion: 1,
      mergeMethod: plan.method.name,
      baseModel: plan.config.baseModel,
      models: modelNames,
      seed: plan.config.seed,
      config,
      warnings: plan.warnings,
      tensors: tensorReports,
      layers: summariseLayers(tensorReports, modelNames.length),
      seconds,
      inputBytes: plan.inputBytes,
      outputBytes: plan.outputBytes,
    };
    await writeFile(join(temp, 'merge-report.json'), `${JSON.stringify(report, null, 1)}\n`);
    await writeFile(join(temp, 'merge-report.svg'), await renderReportSvg(report));
    await commitOutputDirectory(temp, plan.out);
    return {
      out: plan.out,
      tensors: plan.tensors.length,
      seconds,
      inputBytes: plan.inputBytes,
      outputBytes: plan.outputBytes,
      warnings: plan.warnings,
      timings,
      report,
    };
  } catch (error) {
    await rm(temp, { recursive: true, force: true }).catch(() => undefined);
    throw explainFailure(error, plan.out);
  } finally {
    await closePlan(plan);
  }
}

/** Time spent waiting for reads, computing, and waiting for writes (seconds). */
export interface MergeTimings {
  readWait: number;
  compute: number;
  writeWait: number;
}

async function writeWeights(
  plan: MergePlan,
  dir: string,
  options: MergeModelsOptions,
  timings: MergeTimings,
): Promise<TensorReport[]> {
  const writer = await createCheckpointWriter(
    dir,
    plan.tensors.map((tensor) => ({ name: tensor.name, dtype: tensor.dtype, shape: [...tensor.shape] })),
    {
      maxShardBytes: options.maxShardBytes ?? DEFAULT_MAX_SHARD_BYTES,
      backgroundSyncBytes: BACKGROUND_SYNC_BYTES,
      metadata: { format: 'pt', merged_by: 'fusechat', merge_method: plan.method.name },
    },
  );
  const sources = [...(plan.base ? [plan.base] : []), ...plan.models];
  const isBuiltin = Object.values(builtinMergeMethods).includes(plan.method as never);
  const prefetch = options.prefetch ?? true;
  // Off by default: measured on 2 shared cores, two worker threads merged 10–50% slower than one
  // thread whose reads and writes overlap its math (the kernels are memory-bound).
  const workers = isBuiltin ? (options.workers ?? 0) : 0;
  const capacity = sources.map((model) =>
    Math.max(
      0,
      ...plan.tensors.filter((t) => !t.copy).map((t) => model.checkpoint.tensors.get(t.name)!.numel),
    ),
  );
  if (workers === 0)
    return writeWeightsPipelined(plan, writer, sources, capacity, prefetch, options, timings);
  // Worker lanes run read → merge → write one tensor at a time, interleaved. Each lane owns one
  // float32 buffer per input, reused for every tensor it handles (lanes × inputs × largest tensor).
  const laneCount = Math.max(workers, prefetch ? 2 : 1);
  const reader = new TensorReader();
  const pool = new MergeWorkerPool(workers);
  const reports: TensorReport[] = new Array(plan.tensors.length);
  const total = plan.tensors.length;
  let next = 0;
  let completed = 0;
  let failed = false;
  const clock = (key: keyof MergeTimings, since: number) => {
    timings[key] += (performance.now() - since) / 1000 / laneCount;
  };

  const lane = async () => {
    let buffers = capacity.map((size) => new Float32Array(size));
    while (!failed && next < total) {
      const index = next++;
      const tensor = plan.tensors[index]!;
      let started = performance.now();
      let output: Float32Array | TensorArray;
      if (tensor.copy) {
        output = (await plan.reference.checkpoint.readTensor(tensor.name)).data;
        clock('readWait', started);
        reports[index] = {
          name: tensor.name,
          shape: tensor.shape,
          dtype: tensor.dtype,
          layer: tensor.layer,
          copied: true,
        };
      } else {
        const inputs = await Promise.all(
          sources.map(async (model, j) => {
            const values = await reader.read(model, tensor.name, buffers[j]!);
            // Row-major [vocab, hidden]: the first rows are the base vocabulary's.
            return values.length > tensor.numel ? values.subarray(0, tensor.numel) : values;
          }),
        );
        clock('readWait', started);
        started = performance.now();
        const job = {
          tensorName: tensor.name,
          shape: tensor.shape,
          numel: tensor.numel,
          seed: plan.config.seed,
          inputs,
          hasBase: plan.base !== undefined,
          models: plan.models.map((model) => model.reference),
          parameters: tensor.parameters,
          perModel: tensor.perModel,
        };
        const response = await pool.run({ ...job, method: plan.method.name });
        buffers = response.buffers.map((buffer) => new Float32Array(buffer));
        const result: TensorJobResult = response;
        clock('compute', started);
        output = result.output;
        reports[index] = {
          name: tensor.name,
          shape: tensor.shape,
          dtype: tensor.dtype,
          layer: tensor.layer,
          ...(result.weights ? { weights: [...result.weights] } : {}),
          ...(result.changeMeanSquare ? { changeMeanSquare: [...result.changeMeanSquare] } : {}),
          ...(tensor.cropped.length > 0 ? { cropped: tensor.cropped } : {}),
        };
      }
      started = performance.now();
      await writer.write(tensor.name, output);
      clock('writeWait', started);
      completed++;
      options.onProgress?.({ task: 'merge', completed, total, unit: 'tensors', detail: tensor.name });
    }
  };

  try {
    const lanes = Array.from({ length: laneCount }, () =>
      lane().catch((error: unknown) => {
        failed = true;
        throw error;
      }),
    );
    const settled = await Promise.allSettled(lanes);
    const rejected = settled.find((outcome) => outcome.status === 'rejected');
    if (rejected) throw (rejected as PromiseRejectedResult).reason;
    const started = performance.now();
    await writer.close();
    timings.writeWait += (performance.now() - started) / 1000;
  } catch (error) {
    await writer.abort().catch(() => undefined);
    throw error;
  } finally {
    await Promise.all([reader.close(), pool.close()]);
  }
  return reports;
}

/**
 * One thread, one float32 buffer per input (the largest tensor each), and three overlaps instead
 * of a second set of buffers: reads arrive in pieces while the engine's per-element statistics
 * (the mean squared change VaRM and the report need) run on the pieces already read; the merged
 * tensor is written in the background while the next tensor's reads start (only the buffer the
 * pending write reads from waits for it); the writer flushes to disk in the background.
 */
async function writeWeightsPipelined(
  plan: MergePlan,
  writer: CheckpointWriter,
  sources: readonly OpenedModel[],
  capacity: readonly number[],
  prefetch: boolean,
  options: MergeModelsOptions,
  timings: MergeTimings,
): Promise<TensorReport[]> {
  // One WebAssembly memory holding every input buffer, so the SIMD kernels run on them in place
  // (plain arrays when the kernels are off, unavailable, or the buffers exceed 4 GiB).
  const buffers =
    (options.kernels === 'js'
      ? undefined
      : (allocateKernelArrays(capacity, { scratchElements: Math.max(0, ...capacity) }) ??
        allocateKernelArrays(capacity))) ?? capacity.map((size) => new Float32Array(size));
  const reader = new TensorReader();
  const reports: TensorReport[] = new Array(plan.tensors.length);
  const total = plan.tensors.length;
  const hasBase = plan.base !== undefined;
  const computeChange = hasBase && !plan.method.reportsChange;
  const modelBuffers = hasBase ? buffers.slice(1) : buffers;
  // Writes in flight, each with the index of the input buffer it reads from (undefined: an array
  // of its own; by range, not by ArrayBuffer: arena buffers share one) and how many of that
  // buffer's bytes it has consumed, so the next tensor's read into the buffer can follow it.
  let pending: PendingWrite[] = [];
  let completed = 0;
  const since = (key: keyof MergeTimings, started: number) => {
    timings[key] += (performance.now() - started) / 1000;
  };
  const waitForWrites = async () => {
    const waiting = pending;
    pending = [];
    await Promise.all(waiting.map((write) => write.done));
  };
  // The first failed write: the merge stops at the next tensor instead of running to the end.
  let writeFailure: { error: unknown } | undefined;
  const startWrite = (name: string, output: Float32Array | TensorArray) => {
    const write = new PendingWrite();
    const index = buffers.findIndex(
      (buffer) =>
        buffer.buffer === output.buffer &&
        output.byteOffset >= buffer.byteOffset &&
        output.byteOffset < buffer.byteOffset + Math.max(buffer.byteLength, 1),
    );
    write.input = index < 0 ? undefined : index;
    // Progress counts from the output's start: it maps onto the buffer when both start together.
    const follow = index >= 0 && output.byteOffset === buffers[index]!.byteOffset;
    const done = writer
      .write(name, output, follow ? { onConsumed: (bytes) => write.consumed(bytes) } : {})
      .then(() => {
        completed++;
        options.onProgress?.({ task: 'merge', completed, total, unit: 'tensors', detail: name });
      });
    const settle = () => {
      // Done or failed, the buffer is free (a failure is thrown by the loop, or by waitForWrites).
      write.consumed(Number.POSITIVE_INFINITY);
      pending = pending.filter((other) => other !== write);
    };
    done.then(settle, (error: unknown) => {
      writeFailure ??= { error };
      settle();
    });
    write.done = done;
    pending.push(write);
  };
  // Reads into buffer j follow the pending write from it instead of waiting for all of it.
  const gateFor = (j: number) => {
    const writes = pending.filter((write) => write.input === j);
    if (writes.length === 0) return undefined;
    return (end: number) => {
      const waits = writes.map((write) => write.until(end)).filter((wait) => wait !== undefined);
      return waits.length === 0 ? undefined : Promise.all(waits).then(() => undefined);
    };
  };

  try {
    for (let index = 0; index < total; index++) {
      const tensor = plan.tensors[index]!;
      let started = performance.now();
      if (writeFailure !== undefined) throw writeFailure.error;
      if (!prefetch) await waitForWrites();
      if (tensor.copy) {
        const output = (await plan.reference.checkpoint.readTensor(tensor.name)).data;
        since('readWait', started);
        reports[index] = {
          name: tensor.name,
          shape: tensor.shape,
          dtype: tensor.dtype,
          layer: tensor.layer,
          copied: true,
        };
        startWrite(tensor.name, output);
        continue;
      }
      const numel = tensor.numel;
      // Row-major [vocab, hidden]: the first rows are the base vocabulary's, so a cropped input
      // is the first `numel` elements of what is read.
      const job = {
        tensorName: tensor.name,
        shape: tensor.shape,
        numel,
        seed: plan.config.seed,
        inputs: buffers.map((buffer) => buffer.subarray(0, numel)),
        hasBase,
        models: plan.models.map((model) => model.reference),
        parameters: tensor.parameters,
        perModel: tensor.perModel,
      };
      const prepared = prefetch ? prepareTensorJob(plan.method, job) : undefined;
      const sums = computeChange ? new Float64Array(plan.models.length) : undefined;
      const ready = new Array<number>(sources.length).fill(0);
      let processed = 0;
      const progress = (j: number) => (prefix: number) => {
        ready[j] = Math.min(prefix, numel);
        let upTo = numel;
        for (const value of ready) upTo = Math.min(upTo, value);
        if (upTo <= processed) return;
        if (sums !== undefined) addSquaredChange(sums, modelBuffers, buffers[0]!, processed, upTo);
        prepared?.pass?.advance(processed, upTo);
        processed = upTo;
      };
      await Promise.all(
        sources.map(async (model, j) => {
          await reader.read(model, tensor.name, buffers[j]!, progress(j), gateFor(j));
        }),
      );
      since('readWait', started);
      started = performance.now();
      const result = runTensorJob(
        plan.method,
        {
          ...job,
          changeMeanSquare: sums ? Array.from(sums, (sum) => (numel === 0 ? 0 : sum / numel)) : undefined,
        },
        prepared,
      );
      since('compute', started);
      reports[index] = {
        name: tensor.name,
        shape: tensor.shape,
        dtype: tensor.dtype,
        layer: tensor.layer,
        ...(result.weights ? { weights: [...result.weights] } : {}),
        ...(result.changeMeanSquare ? { changeMeanSquare: [...result.changeMeanSquare] } : {}),
        ...(tensor.cropped.length > 0 ? { cropped: tensor.cropped } : {}),
      };
      startWrite(tensor.name, result.output);
    }
    const started = performance.now();
    await waitForWrites();
    if (writeFailure !== undefined) throw writeFailure.error;
    await writer.close();
    since('writeWait', started);
  } catch (error) {
    await Promise.allSettled(pending.map((write) => write.done));
    await writer.abort().catch(() => undefined);
    throw error;
  } finally {
    await reader.close();
    if (buffers[0] !== undefined) releaseKernelArrays(buffers[0]);
  }
  return reports;
}

/**
 * A write in flight from one of the engine's buffers: how many of its bytes the writer has
 * consumed, and the reads waiting for more.
 */
class PendingWrite {
  input: number | undefined;
  done: Promise<void> = Promise.resolve();
  #consumed = 0;
  #waiting: { end: number; resolve: () => void }[] = [];

  consumed(bytes: number): void {
    this.#consumed = Math.max(this.#consumed, bytes);
    const ready = this.#waiting.filter((wait) => wait.end <= this.#consumed);
    this.#waiting = this.#waiting.filter((wait) => wait.end > this.#consumed);
    for (const wait of ready) wait.resolve();
  }

  /** Resolves once bytes `[0, end)` are consumed; undefined when they are. */
  until(end: number): Promise<void> | undefined {
    if (end <= this.#consumed) return undefined;
    return new Promise((resolve) => this.#waiting.push({ end, resolve }));
  }
}

async function copySideFiles(plan: MergePlan, dir: string): Promise<void> {
  const outputDtypes = new Set(plan.tensors.filter((tensor) => !tensor.copy).map((tensor) => tensor.dtype));
  for (const file of CONFIG_FILES) {
    const source = join(plan.reference.dir, file);
    if (!existsSync(source)) continue;
    if (file === 'config.json' && outputDtypes.size === 1) {
      const config = JSON.parse(await readFile(source, 'utf8')) as Record<string, unknown>;
      const torchDtype = TORCH_DTYPES[[...outputDtypes][0]!];
      if (torchDtype) config.torch_dtype = torchDtype;
      await writeFile(join(dir, file), `${JSON.stringify(config, null, 2)}\n`);
    } else {
      await copyFile(source, join(dir, file));
    }
  }
  for (const file of TOKENIZER_FILES) {
    const source = join(plan.tokenizerSource.dir, file);
    if (existsSync(source)) await copyFile(source, join(dir, file));
  }
}

function errnoOf(error: unknown): string | undefined {
  for (let current = error, depth = 0; current !== undefined && current !== null && depth < 5; depth++) {
    const code = (current as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && code.startsWith('E') && !code.includes('_')) return code;
    const detail = (current as FuseChatError).details?.errno;
    if (typeof detail === 'string') return detail;
    current = (current as Error).cause;
  }
  return undefined;
}

function explainFailure(error: unknown, out: string): unknown {
  const errno = errnoOf(error);
  if (errno === 'ENOSPC' || errno === 'EDQUOT') {
    return new FuseChatError(
      'MERGE_DISK_FULL',
      `The disk filled up while writing the merged model for ${out}; the partial output was removed. Free space or choose another --out.`,
      { cause: error, details: { out, errno } },
    );
  }
  return error;
}
