import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { dirname, extname, join, parse } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { FuseChatError, InvalidInputError, NumericalError } from '@fusechat/core';
import { type CausalLM, defaultArchitectureRegistry } from '@fusechat/model';
import * as tf from '@tensorflow/tfjs-core';
import {
  type AccumulatedGradients,
  accumulateGradients,
  type LossSettings,
} from '../trainer/accumulate-gradients.js';
import type { TrainingBatch } from '../training-batch.js';
import type {
  GradientWorkerRequest,
  GradientWorkerResponse,
  GradientWorkerSetup,
  SerializedError,
  TensorSlot,
} from './gradient-worker-protocol.js';
import { sharedSlot } from './gradient-worker-protocol.js';
import { splitBatchRows } from './split-batch.js';

/** Options of {@link GradientWorkerPool.start}. */
export interface GradientWorkerPoolOptions {
  /** Replicas in all, this thread included (≥ 2; `workers − 1` worker threads are started). */
  readonly workers: number;
  /** wasm threads of each worker's backend (default 1: one core per replica). */
  readonly threadsPerWorker?: number | undefined;
}

type Done = Extract<GradientWorkerResponse, { type: 'done' }>;

/**
 * Data-parallel gradient computation on worker threads, as DDP does it on one machine: every
 * replica holds a copy of the model, each step's micro-batches (split by rows when there are
 * fewer than replicas, or not a multiple of them) are shared out, each replica sums the
 * gradients of its share weighted by the whole step's supervised positions, and the sums are
 * added here in replica order. The result is the serial step's up to float32 rounding (the
 * additions are grouped differently), and the same on every run with the same worker count.
 * This thread is replica 0; weights go to the workers through shared memory before each step.
 * Works on the `wasm` and `cpu` backends with the built-in architectures.
 *
 * @example
 * ```ts
 * const pool = await GradientWorkerPool.start(model, settings, { workers: 2 });
 * try {
 *   const step = await pool.accumulate(batches); // as accumulateGradients(model, variables, batches, settings)
 * } finally {
 *   await pool.close();
 * }
 * ```
 */
export class GradientWorkerPool {
  readonly #model: CausalLM;
  readonly #variables: Map<string, tf.Variable>;
  readonly #settings: LossSettings;
  readonly #trainable: readonly TensorSlot[];
  readonly #weights: Float32Array;
  readonly #gradients: readonly Float32Array[];
  readonly #workers: readonly Worker[];
  readonly #pending = new Map<number, { resolve: (done: Done) => void; reject: (error: Error) => void }>();
  #failure: Error | undefined;
  #nextId = 0;

  private constructor(parts: {
    model: CausalLM;
    variables: Map<string, tf.Variable>;
    settings: LossSettings;
    trainable: readonly TensorSlot[];
    weights: Float32Array;
    gradients: readonly Float32Array[];
    workers: readonly Worker[];
  }) {
    this.#model = parts.model;
    this.#variables = parts.variables;
    this.#settings = parts.settings;
    this.#trainable = parts.trainable;
    this.#weights = parts.weights;
    this.#gradients = parts.gradients;
    this.#workers = parts.workers;
    parts.workers.forEach((worker, index) => {
      worker.on('message', (response: GradientWorkerResponse) => this.#settle(response, index + 1));
      worker.on('error', (error) => this.#fail(workerFailed(index + 1, error.message, error)));
      worker.on('exit', (code) =>
        this.#fail(
          workerFailed(
            index + 1,
            `the worker thread exited (code ${code}); rerun with fewer workers (training resumes from the last checkpoint)`,
          ),
        ),
      );
    });
  }

  /** Replicas in all, this thread included. */
  get replicas(): number {
    return this.#workers.length + 1;
  }

  /**
   * Starts `workers − 1` replicas of `model` (its current weights and LoRA adapters) and waits
   * until each has its backend and weights.
   *
   * @throws {InvalidInputError} `TRAIN_WORKERS_UNSUPPORTED` on another backend than wasm/cpu or a
   *   custom architecture; `TRAIN_WORKER_FAILED` when a replica cannot start.
   */
  static async start(
    model: CausalLM,
    settings: LossSettings,
    options: GradientWorkerPoolOptions,
  ): Promise<GradientWorkerPool> {
    const { workers } = options;
    if (!Number.isInteger(workers) || workers < 2)
      throw new InvalidInputError(`GradientWorkerPool needs workers ≥ 2, got ${workers}.`, {
        code: 'INVALID_INPUT',
        field: 'workers',
      });
    const threads = options.threadsPerWorker ?? 1;
    GradientWorkerPool.check(model);
    const backend = tf.getBackend() as 'wasm' | 'cpu';
    const variables = model.namedTrainableVariables();
    const base = layout([...model.weights].map(([name, variable]) => [name, variable.shape]));
    const trainable = layout([...variables].map(([name, variable]) => [name, variable.shape]));
    const baseBuffer = new SharedArrayBuffer(base.elements * 4);
    const baseValues = new Float32Array(baseBuffer);
    for (const slot of base.slots)
      baseValues.set(model.weights.get(slot.name)!.dataSync() as Float32Array, slot.offset);
    const weightBuffer = new SharedArrayBuffer(trainable.elements * 4);
    const adapters = [...model.adapters.values()];
    const lora =
      adapters.length === 0
        ? undefined
        : {
            rank: adapters[0]!.a.shape[0]!,
            alpha: adapters[0]!.scale * adapters[0]!.a.shape[0]!,
            targetModules: [
              ...new Set(
                adapters.map((adapter) => adapter.module.slice(adapter.module.lastIndexOf('.') + 1)),
              ),
            ],
          };
    const architecture = model.architecture;
    const gradientBuffers: SharedArrayBuffer[] = [];
    const started: Worker[] = [];
    try {
      for (let replica = 1; replica < workers; replica++) {
        const gradientBuffer = new SharedArrayBuffer(trainable.elements * 4);
        gradientBuffers.push(gradientBuffer);
        const setup: GradientWorkerSetup = {
          backend,
          threads,
          modelType: model.config.modelType,
          hfConfig: architecture.toHfConfig(model.config),
          ...(lora === undefined ? {} : { lora }),
          baseWeights: base.slots,
          baseBuffer,
          trainable: trainable.slots,
          weightBuffer,
          gradientBuffer,
          settings,
        };
        started.push(startWorker(setup));
      }
    } catch (error) {
      await Promise.all(started.map((worker) => worker.terminate()));
      throw error;
    }
    // Its listeners are on from here, so a worker that fails while another one starts is seen.
    const pool = new GradientWorkerPool({
      model,
      variables,
      settings,
      trainable: trainable.slots,
      weights: new Float32Array(weightBuffer),
      gradients: gradientBuffers.map((buffer) => new Float32Array(buffer)),
      workers: started,
    });
    try {
      await Promise.all(started.map((worker, index) => whenReady(worker, index + 1)));
      if (pool.#failure) throw pool.#failure;
    } catch (error) {
      await pool.close();
      throw error;
    }
    return pool;
  }

  /**
   * Refuses, before anything changes, what the replicas cannot run: another backend than wasm or
   * cpu, or a custom architecture (`TRAIN_WORKERS_UNSUPPORTED`).
   */
  static check(model: CausalLM): void {
    const backend = tf.getBackend();
    if (backend !== 'wasm' && backend !== 'cpu')
      throw new InvalidInputError(
        `Data-parallel workers run on the wasm or cpu backend, not "${backend}": use workers: 1 (--workers 1); a GPU backend parallelises each op itself.`,
        { code: 'TRAIN_WORKERS_UNSUPPORTED', field: 'workers', details: { backend } },
      );
    let builtIn: boolean;
    try {
      builtIn = defaultArchitectureRegistry.get(model.config.modelType) === model.architecture;
    } catch {
      builtIn = false;
    }
    if (!builtIn)
      throw new InvalidInputError(
        `Data-parallel workers rebuild the model from its config, which needs a built-in architecture; "${model.config.modelType}" is a custom one: use workers: 1 (--workers 1).`,
        {
          code: 'TRAIN_WORKERS_UNSUPPORTED',
          field: 'workers',
          details: { modelType: model.config.modelType },
        },
      );
  }

  /**
   * `accumulateGradients(model, variables, batches, settings)` over the replicas. A replica's
   * library error (a `NumericalError` for NaN teacher logits, an `InvalidInputError`…) is thrown
   * as its own class and code, with `details.replica`, and the pool stays usable. Any other
   * failure of a worker (its thread exited, a wasm abort) is `TRAIN_WORKER_FAILED` naming the
   * replica, after which the pool refuses further steps.
   */
  async accumulate(batches: readonly TrainingBatch[]): Promise<AccumulatedGradients> {
    if (this.#failure) throw this.#failure;
    const replicas = this.replicas;
    const parts =
      batches.length % replicas === 0 ? batches : batches.flatMap((batch) => splitBatchRows(batch, replicas));
    const shares = Array.from({ length: replicas }, (_, replica) =>
      parts.filter((_, index) => index % replicas === replica),
    );
    const total = parts.reduce((sum, batch) => sum + batch.supervisedPositions, 0);
    for (const slot of this.#trainable)
      this.#weights.set(this.#variables.get(slot.name)!.dataSync() as Float32Array, slot.offset);
    const remote = shares
      .slice(1)
      .map((share, index) =>
        share.length === 0 ? Promise.resolve(undefined) : this.#request(index, share, total),
      );
    // Rejections are read below, after this thread's own share.
    for (const promise of remote) promise.catch(() => undefined);
    let local: AccumulatedGradients | undefined;
    let localError: unknown;
    try {
      local = accumulateGradients(this.#model, this.#variables, shares[0]!, this.#settings, total);
    } catch (error) {
      localError = error;
    }
    const results = await Promise.allSettled(remote);
    const failed = results.find((result) => result.status === 'rejected');
    if (localError !== undefined || failed !== undefined) {
      if (local) tf.dispose([...local.gradients.values()]);
      throw localError ?? (failed as PromiseRejectedResult).reason;
    }
    const gradients = local!.gradients;
    let { loss, clm, fusion, tokens } = local!;
    results.forEach((result, index) => {
      const done = (result as PromiseFulfilledResult<Done | undefined>).value;
      if (done === undefined) return;
      const values = this.#gradients[index]!;
      for (const slot of this.#trainable) {
        const previous = gradients.get(slot.name)!;
        const next = tf.tidy(() =>
          tf.add(previous, tf.tensor(sharedSlot(values, slot), [...slot.shape], 'float32')),
        );
        previous.dispose();
        gradients.set(slot.name, next);
      }
      loss += done.loss;
      clm += done.clm;
      if (!Number.isNaN(done.fusion)) fusion = (Number.isNaN(fusion) ? 0 : fusion) + done.fusion;
      tokens += done.tokens;
    });
    return { gradients, loss, clm, fusion, supervisedPositions: total, tokens };
  }

  /** Stops the worker threads. */
  async close(): Promise<void> {
    this.#failure ??= new FuseChatError('TRAIN_WORKER_FAILED', 'The data-parallel workers were closed.');
    await Promise.all(this.#workers.map((worker) => worker.terminate()));
  }

  #request(worker: number, batches: readonly TrainingBatch[], total: number): Promise<Done> {
    const id = this.#nextId++;
    return new Promise<Done>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#workers[worker]!.postMessage({
        id,
        batches,
        totalSupervisedPositions: total,
      } satisfies GradientWorkerRequest);
    });
  }

  #settle(response: GradientWorkerResponse, replica: number): void {
    if (response.type === 'ready') return;
    const pending = response.id === undefined ? undefined : this.#pending.get(response.id);
    if (response.type === 'error') {
      const error = rebuildError(response.error, replica);
      if (pending) {
        this.#pending.delete(response.id!);
        pending.reject(error);
      }
      // A wasm abort or out-of-memory may leave the replica broken: no further steps on it.
      if (!pending || !isDataError(error)) this.#fail(error);
      return;
    }
    if (pending) {
      this.#pending.delete(response.id);
      pending.resolve(response);
    }
  }

  #fail(error: Error): void {
    if (this.#failure) return;
    this.#failure = error;
    for (const pending of this.#pending.values()) pending.reject(error);
    this.#pending.clear();
  }
}

/** Replicas for `requested` (this thread included): `auto` is the machine's cores (at most 8). */
export function resolveWorkerCount(requested: number | 'auto' | undefined): number {
  if (requested === undefined) return 1;
  if (requested === 'auto') return Math.max(1, Math.min(8, availableParallelism()));
  if (!Number.isInteger(requested) || requested < 1)
    throw new InvalidInputError(`workers must be a positive integer or "auto", got ${String(requested)}.`, {
      code: 'INVALID_INPUT',
      field: 'workers',
      details: { workers: requested },
    });
  return requested;
}

function layout(entries: [string, readonly number[]][]): { slots: TensorSlot[]; elements: number } {
  let offset = 0;
  const slots = entries.map(([name, shape]) => {
    const size = shape.reduce((a, b) => a * b, 1);
    const slot = { name, shape: [...shape], offset, size };
    offset += size;
    return slot;
  });
  return { slots, elements: offset };
}

function workerFailed(replica: number, message: string, cause?: unknown): FuseChatError {
  return new FuseChatError('TRAIN_WORKER_FAILED', `Data-parallel replica ${replica} failed: ${message}`, {
    details: { replica },
    ...(cause === undefined ? {} : { cause }),
  });
}

/**
 * A replica's error as the class and code it was thrown with (structured cloning keeps only plain
 * fields), with `details.replica`: the same failure as on this thread, wherever the batch ran.
 * Errors that are not the library's (a wasm abort, out of memory) become `TRAIN_WORKER_FAILED`.
 */
function rebuildError(error: SerializedError, replica: number): Error {
  const details = { ...error.details, replica };
  if (error.name === 'NumericalError') {
    const { tensorName, ...rest } = details as { tensorName?: unknown };
    return new NumericalError(error.message, {
      code: error.code,
      details: rest,
      ...(typeof tensorName === 'string' ? { tensorName } : {}),
    });
  }
  if (error.name === 'InvalidInputError') {
    const { field, ...rest } = details as { field?: unknown };
    return new InvalidInputError(error.message, {
      code: error.code,
      details: rest,
      ...(typeof field === 'string' ? { field } : {}),
    });
  }
  if (error.fuseChatError && error.code !== undefined)
    return new FuseChatError(error.code, error.message, { details });
  if (error.code === 'ERR_MODULE_NOT_FOUND' && error.message.includes('@fusechat/backend'))
    return workerFailed(
      replica,
      'data-parallel workers load their backend with @fusechat/backend; install it beside @fusechat/training.',
    );
  return workerFailed(replica, error.code === undefined ? error.message : `${error.message} (${error.code})`);
}

/** Whether a replica's error leaves it usable: the library's own errors are about the data. */
function isDataError(error: Error): boolean {
  return error instanceof FuseChatError && error.code !== 'TRAIN_WORKER_FAILED';
}

function whenReady(worker: Worker, replica: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onMessage = (response: GradientWorkerResponse) => {
      if (response.type === 'ready') finish();
      else if (response.type === 'error') finish(rebuildError(response.error, replica));
    };
    const onError = (error: Error) => finish(workerFailed(replica, error.message, error));
    const onExit = (code: number) =>
      finish(workerFailed(replica, `the worker thread exited (code ${code}) while starting`));
    const finish = (error?: Error) => {
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
      if (error) reject(error);
      else resolve();
    };
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.on('exit', onExit);
  });
}

/**
 * The worker script beside this module: `gradient-worker.ts` in the sources (loaded through tsx,
 * with the repository's resolve hook for tfjs-core's ESM files), `gradient-worker.js`/`.cjs`
 * beside the bundle in the build.
 */
function startWorker(setup: GradientWorkerSetup): Worker {
  const here = fileURLToPath(import.meta.url);
  const extension = extname(here);
  const script = join(dirname(here), `gradient-worker${extension}`);
  if (extension !== '.ts') return new Worker(script, { workerData: setup });
  const tsxRoot = dirname(createRequire(import.meta.url).resolve('tsx/package.json'));
  const tsx = pathToFileURL(join(tsxRoot, 'dist', 'esm', 'api', 'index.mjs')).href;
  const hook = findUp(dirname(here), join('scripts', 'tfjs-esm-hook.mjs'));
  const registerHook =
    hook === undefined
      ? ''
      : `(await import('node:module')).register(${JSON.stringify(pathToFileURL(hook).href)});`;
  const code = `(async () => { ${registerHook} (await import(${JSON.stringify(tsx)})).register(); await import(${JSON.stringify(pathToFileURL(script).href)}); })();`;
  return new Worker(code, { eval: true, execArgv: ['--conditions=source'], workerData: setup });
}

function findUp(from: string, relative: string): string | undefined {
  let dir = from;
  while (true) {
    const candidate = join(dir, relative);
    if (existsSync(candidate)) return candidate;
    if (dir === parse(dir).root) return undefined;
    dir = dirname(dir);
  }
}
