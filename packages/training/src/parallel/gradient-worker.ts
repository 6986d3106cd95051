// A data-parallel replica: a worker thread with its own tfjs backend and a copy of the model. Each
// step it takes the trainable weights from shared memory, computes the gradients of its share of
// the step's micro-batches (`accumulateGradients`, weighted by the whole step's supervised
// positions) and writes their sum into its own shared gradient buffer. Started by
// `GradientWorkerPool`; not a public entry point.
import { parentPort, workerData } from 'node:worker_threads';
import { FuseChatError } from '@fusechat/core';
import { applyLora, type CausalLM, createModel, defaultArchitectureRegistry } from '@fusechat/model';
import * as tf from '@tensorflow/tfjs-core';
import { accumulateGradients } from '../trainer/accumulate-gradients.js';
import type {
  GradientWorkerRequest,
  GradientWorkerResponse,
  GradientWorkerSetup,
  TensorSlot,
} from './gradient-worker-protocol.js';
import { sharedSlot } from './gradient-worker-protocol.js';

const port = parentPort!;
const setup = workerData as GradientWorkerSetup;

function post(response: GradientWorkerResponse): void {
  port.postMessage(response);
}

/** The plain fields of an error, which survive structured cloning. */
function serializeError(error: unknown): GradientWorkerResponse & { type: 'error' } {
  const record = (error ?? {}) as { name?: unknown; message?: unknown; code?: unknown; details?: unknown };
  return {
    type: 'error',
    error: {
      name: typeof record.name === 'string' ? record.name : 'Error',
      fuseChatError: error instanceof FuseChatError,
      message: typeof record.message === 'string' ? record.message : String(error),
      code: typeof record.code === 'string' ? record.code : undefined,
      details:
        record.details !== null && typeof record.details === 'object'
          ? JSON.parse(JSON.stringify(record.details))
          : undefined,
    },
  };
}

function slotValues(buffer: SharedArrayBuffer, slot: TensorSlot): Float32Array {
  return sharedSlot(new Float32Array(buffer), slot);
}

async function start(): Promise<{ model: CausalLM; variables: Map<string, tf.Variable> }> {
  // Optional peer dependency: the same backend the trainer's thread runs, at its own thread count.
  const { initBackend } = await import('@fusechat/backend');
  await initBackend(setup.backend, { wasmThreads: setup.threads, quiet: true });
  const architecture = defaultArchitectureRegistry.get(setup.modelType);
  const model = createModel(architecture.parseConfig(setup.hfConfig), { seed: 0 });
  if (setup.baseWeights.length !== model.weights.size)
    throw new Error(
      `the replica has ${model.weights.size} weights, the trainer's model ${setup.baseWeights.length}`,
    );
  const trainableNames = new Set(setup.trainable.map((slot) => slot.name));
  for (const slot of setup.baseWeights) {
    const variable = model.weights.get(slot.name);
    if (variable === undefined) throw new Error(`the replica has no weight "${slot.name}"`);
    tf.tidy(() => variable.assign(tf.tensor(slotValues(setup.baseBuffer, slot), [...slot.shape], 'float32')));
    // Weights the trainer froze by hand stay frozen here (LoRA freezes the rest itself).
    if (setup.lora === undefined && !trainableNames.has(slot.name)) variable.trainable = false;
  }
  // The base weights are in the replica now: drop the shared copy (freed once every replica has).
  delete (workerData as { baseBuffer?: SharedArrayBuffer }).baseBuffer;
  if (setup.lora !== undefined) applyLora(model, setup.lora);
  const variables = model.namedTrainableVariables();
  const expected = setup.trainable.map((slot) => slot.name);
  if (expected.length !== variables.size || expected.some((name) => !variables.has(name)))
    throw new Error(
      `the replica's trainable variables differ from the trainer's (${variables.size} vs ${expected.length})`,
    );
  return { model, variables };
}

const ready = start();
ready.then(
  () => post({ type: 'ready' }),
  (error: unknown) => post(serializeError(error)),
);

port.on('message', async (request: GradientWorkerRequest) => {
  let replica: Awaited<typeof ready>;
  try {
    replica = await ready;
  } catch {
    return; // the start-up error was posted already
  }
  try {
    const { model, variables } = replica;
    for (const slot of setup.trainable) {
      const variable = variables.get(slot.name)!;
      tf.tidy(() =>
        variable.assign(tf.tensor(slotValues(setup.weightBuffer, slot), [...slot.shape], 'float32')),
      );
    }
    const result = accumulateGradients(
      model,
      variables,
      request.batches,
      setup.settings,
      request.totalSupervisedPositions,
    );
    const gradients = new Float32Array(setup.gradientBuffer);
    try {
      for (const slot of setup.trainable) {
        const gradient = result.gradients.get(slot.name)!;
        gradients.set(gradient.dataSync() as Float32Array, slot.offset);
      }
    } finally {
      tf.dispose([...result.gradients.values()]);
    }
    post({
      type: 'done',
      id: request.id,
      loss: result.loss,
      clm: result.clm,
      fusion: result.fusion,
      tokens: result.tokens,
    });
  } catch (error) {
    post({ ...serializeError(error), id: request.id });
  }
});
