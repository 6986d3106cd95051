// Worker thread entry: merges whole tensors with a built-in method, so two tensors are merged
// at once on two cores. Buffers arrive and return by transfer (no copies).
import { parentPort } from 'node:worker_threads';
import { builtinMergeMethods } from '../builtin-merge-methods.js';
import type { AnyMergeMethod } from '../merge-method.js';
import { runTensorJob, type TensorJob, type TensorJobResult } from './merge-tensor.js';

/** A tensor job as posted to a worker. */
export interface WorkerRequest extends TensorJob {
  readonly id: number;
  readonly method: string;
}

/** A worker's answer; every input buffer comes back for reuse. */
export type WorkerResponse =
  | ({ readonly id: number; readonly buffers: ArrayBuffer[] } & TensorJobResult)
  | { readonly id: number; readonly error: unknown; readonly buffers: ArrayBuffer[] };

const methods: Readonly<Record<string, AnyMergeMethod>> = Object.fromEntries(
  Object.values(builtinMergeMethods).map((method) => [method.name, method as AnyMergeMethod]),
);

parentPort?.on('message', (request: WorkerRequest) => {
  const buffers = [...new Set(request.inputs.map((input) => input.buffer as ArrayBuffer))];
  try {
    const result = runTensorJob(methods[request.method]!, request);
    const outputBuffer = result.output.buffer as ArrayBuffer;
    const transfer = buffers.includes(outputBuffer) ? buffers : [...buffers, outputBuffer];
    parentPort!.postMessage({ id: request.id, ...result, buffers } satisfies WorkerResponse, transfer);
  } catch (error) {
    parentPort!.postMessage({ id: request.id, error, buffers } satisfies WorkerResponse, buffers);
  }
});
