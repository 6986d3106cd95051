import { createRequire } from 'node:module';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { FuseChatError, InvalidInputError } from '@fusechat/core';
import type { AlignPairRequest, AlignPairResult, AlignWorkerSetup } from './align-pair.js';

type WorkerReply =
  | AlignPairResult
  | { id: number; error: { message: string; code?: unknown; name?: unknown } };

/**
 * Worker threads that align example pairs (round-robin; each keeps its own DTW caches). In the
 * sources (tests, tsx) the worker is `align-worker.ts` loaded through tsx; in the build it is
 * `align-worker.js` beside the bundle.
 */
export class AlignWorkerPool {
  readonly #workers: Worker[] = [];
  readonly #pending = new Map<
    number,
    { resolve: (r: AlignPairResult) => void; reject: (e: unknown) => void }
  >();
  #next = 0;

  constructor(count: number, setup: AlignWorkerSetup) {
    const here = fileURLToPath(import.meta.url);
    const extension = extname(here);
    const script =
      extension === '.ts'
        ? join(dirname(here), 'align-worker.ts')
        : join(dirname(here), `align-worker${extension}`);
    for (let i = 0; i < count; i++) {
      const worker =
        extension === '.ts' ? sourceWorker(script, setup) : new Worker(script, { workerData: setup });
      worker.on('message', (reply: WorkerReply) => this.#settle(reply));
      worker.on('error', (error) => this.#failAll(error));
      this.#workers.push(worker);
    }
  }

  run(request: AlignPairRequest): Promise<AlignPairResult> {
    const worker = this.#workers[this.#next++ % this.#workers.length]!;
    return new Promise((resolve, reject) => {
      this.#pending.set(request.id, { resolve, reject });
      worker.postMessage(request, [
        request.sourceIds.buffer,
        request.sourceTopIds.buffer,
        request.sourceTopLogits.buffer,
        request.pivotIds.buffer,
        request.pivotTopIds.buffer,
        request.pivotTopLogits.buffer,
      ] as ArrayBuffer[]);
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.#workers.map((worker) => worker.terminate()));
    this.#workers.length = 0;
  }

  #settle(reply: WorkerReply): void {
    const pending = this.#pending.get(reply.id);
    if (pending === undefined) return;
    this.#pending.delete(reply.id);
    if ('error' in reply) pending.reject(rebuildError(reply.error));
    else pending.resolve(reply);
  }

  #failAll(error: unknown): void {
    for (const [id, pending] of this.#pending) {
      this.#pending.delete(id);
      pending.reject(
        new FuseChatError('ALIGN_WORKER_FAILED', `an alignment worker thread failed: ${String(error)}`, {
          cause: error,
        }),
      );
    }
  }
}

/** The worker's error as the class it was thrown as (structured clone keeps only plain fields). */
function rebuildError(error: { message: string; code?: unknown; name?: unknown }): FuseChatError {
  const code = typeof error.code === 'string' ? error.code : 'ALIGN_FAILED';
  if (error.name === 'InvalidInputError') return new InvalidInputError(error.message, { code });
  return new FuseChatError(code, error.message);
}

/** Running from the TypeScript sources (tests, tsx): load the worker through tsx's loader API. */
function sourceWorker(script: string, setup: AlignWorkerSetup): Worker {
  const tsxRoot = dirname(createRequire(import.meta.url).resolve('tsx/package.json'));
  const tsx = pathToFileURL(join(tsxRoot, 'dist', 'esm', 'api', 'index.mjs')).href;
  const code = `import(${JSON.stringify(tsx)}).then(({ register }) => { register(); return import(${JSON.stringify(pathToFileURL(script).href)}); });`;
  return new Worker(code, { eval: true, execArgv: ['--conditions=source'], workerData: setup });
}
