import { createRequire } from 'node:module';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { FuseChatError } from '@fusechat/core';
import type { WorkerRequest, WorkerResponse } from './merge-worker.js';

type Success = Exclude<WorkerResponse, { error: unknown }>;

/**
 * Worker threads running built-in merge methods on whole tensors. In the sources (tests, tsx)
 * the worker is `merge-worker.ts` loaded through tsx; in the build it is `merge-worker.js`.
 */
export class MergeWorkerPool {
  readonly #workers: Worker[] = [];
  readonly #idle: Worker[] = [];
  readonly #waiting: ((worker: Worker) => void)[] = [];
  readonly #pending = new Map<
    number,
    { resolve: (response: Success) => void; reject: (error: unknown) => void; worker: Worker }
  >();
  #nextId = 0;

  constructor(count: number) {
    const here = fileURLToPath(import.meta.url);
    const extension = extname(here);
    // Sources: src/engine/merge-worker.ts beside this file; build: dist/merge-worker.js beside the bundle.
    const script = join(dirname(here), `merge-worker${extension}`);
    for (let i = 0; i < count; i++) {
      const worker = extension === '.ts' ? sourceWorker(script) : new Worker(script);
      worker.on('message', (response: WorkerResponse) => this.#settle(worker, response));
      worker.on('error', (error) => this.#fail(worker, error));
      this.#workers.push(worker);
      this.#idle.push(worker);
    }
  }

  /** Runs one request on the next idle worker; the input buffers are transferred. */
  async run(request: Omit<WorkerRequest, 'id'>): Promise<Success> {
    const worker = this.#idle.pop() ?? (await new Promise<Worker>((resolve) => this.#waiting.push(resolve)));
    const id = this.#nextId++;
    const transfer = [...new Set(request.inputs.map((input) => input.buffer as ArrayBuffer))];
    return new Promise<Success>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, worker });
      worker.postMessage({ ...request, id } satisfies WorkerRequest, transfer);
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.#workers.map((worker) => worker.terminate()));
    this.#workers.length = 0;
  }

  #release(worker: Worker): void {
    const waiter = this.#waiting.shift();
    if (waiter) waiter(worker);
    else this.#idle.push(worker);
  }

  #settle(worker: Worker, response: WorkerResponse): void {
    const pending = this.#pending.get(response.id);
    if (!pending) return;
    this.#pending.delete(response.id);
    this.#release(worker);
    if ('error' in response) pending.reject(response.error);
    else pending.resolve(response);
  }

  #fail(worker: Worker, error: unknown): void {
    for (const [id, pending] of this.#pending) {
      if (pending.worker !== worker) continue;
      this.#pending.delete(id);
      pending.reject(
        new FuseChatError('MERGE_WORKER_FAILED', `A merge worker thread failed: ${String(error)}`, {
          cause: error,
        }),
      );
    }
  }
}

/** Running from the TypeScript sources (tests, tsx): load the worker through tsx's loader API. */
function sourceWorker(script: string): Worker {
  // The ESM entry of tsx's loader API (require.resolve would give the CommonJS one).
  const tsxRoot = dirname(createRequire(import.meta.url).resolve('tsx/package.json'));
  const tsx = pathToFileURL(join(tsxRoot, 'dist', 'esm', 'api', 'index.mjs')).href;
  const code = `import(${JSON.stringify(tsx)}).then(({ register }) => { register(); return import(${JSON.stringify(pathToFileURL(script).href)}); });`;
  return new Worker(code, { eval: true, execArgv: ['--conditions=source'] });
}
