import { InvalidInputError, isFuseChatError, NumericalError } from '@fusechat/core';
import {
  applyLora,
  type CausalLM,
  createArchitectureRegistry,
  createModel,
  llamaArchitecture,
} from '@fusechat/model';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createArrayDataset } from '../testing/array-dataset.js';
import { useBackend } from '../testing/test-backends.js';
import { tinyExamples, tinyModel } from '../testing/tiny-model.js';
import { accumulateGradients, type LossSettings } from '../trainer/accumulate-gradients.js';
import type { TrainingBatch } from '../training-batch.js';
import { GradientWorkerPool, resolveWorkerCount } from './gradient-worker-pool.js';

const settings: LossSettings = { lmLossWeight: 0.9, distillLossType: 'ce' };
const models: CausalLM[] = [];

beforeAll(async () => {
  await useBackend('cpu');
});
afterAll(() => {
  for (const model of models) model.dispose();
});

async function batches(count: number, batchSize: number, options: { targets?: boolean; seed?: number } = {}) {
  const dataset = createArrayDataset(tinyExamples(count * batchSize, options), { batchSize, shuffle: false });
  return Promise.all(Array.from({ length: count }, (_, index) => dataset.batch(0, index, 1)));
}

function values(gradients: ReadonlyMap<string, tf.Tensor>): Map<string, Float32Array> {
  return new Map([...gradients].map(([name, gradient]) => [name, gradient.dataSync() as Float32Array]));
}

/** The pool's step against the serial `accumulateGradients` of the same batches. */
async function compare(model: CausalLM, step: TrainingBatch[], workers: number) {
  const serial = accumulateGradients(model, model.namedTrainableVariables(), step, settings);
  const pool = await GradientWorkerPool.start(model, settings, { workers });
  try {
    const parallel = await pool.accumulate(step);
    const expected = values(serial.gradients);
    const actual = values(parallel.gradients);
    expect([...actual.keys()]).toEqual([...expected.keys()]);
    let worst = 0;
    let largest = 0;
    for (const [name, want] of expected) {
      const got = actual.get(name)!;
      for (let i = 0; i < want.length; i++) {
        worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
        largest = Math.max(largest, Math.abs(want[i]!));
      }
    }
    // float32 rounding of sums grouped differently, nothing more.
    expect(worst).toBeLessThan(1e-5 * largest);
    expect(largest).toBeGreaterThan(0);
    expect(parallel.loss).toBeCloseTo(serial.loss, 5);
    expect(parallel.clm).toBeCloseTo(serial.clm, 5);
    if (Number.isNaN(serial.fusion)) expect(parallel.fusion).toBeNaN();
    else expect(parallel.fusion).toBeCloseTo(serial.fusion, 5);
    expect(parallel.tokens).toBe(serial.tokens);
    expect(parallel.supervisedPositions).toBe(serial.supervisedPositions);
    tf.dispose([...parallel.gradients.values()]);
  } finally {
    tf.dispose([...serial.gradients.values()]);
    await pool.close();
  }
}

describe('GradientWorkerPool', () => {
  it('gives the serial step of one fusion batch split by rows over 2 replicas', async () => {
    const model = tinyModel(3);
    models.push(model);
    await compare(model, await batches(1, 4, { targets: true }), 2);
  });

  it('gives the serial step of 3 micro-batches over 2 replicas and of 2 over 3 (rows split)', async () => {
    const model = tinyModel(4);
    models.push(model);
    await compare(model, await batches(3, 2), 2);
    await compare(model, await batches(2, 3, { targets: true, seed: 9 }), 3);
  });

  it('trains LoRA adapters: the replicas carry the same adapters and only they get gradients', async () => {
    const model = tinyModel(5);
    models.push(model);
    applyLora(model, { rank: 2, alpha: 4, targetModules: ['q_proj', 'v_proj'], seed: 3 });
    // B starts at zero; move it so A gets a gradient too.
    for (const [name, variable] of model.namedTrainableVariables())
      if (name.includes('lora_B')) variable.assign(tf.randomNormal(variable.shape, 0, 0.1, 'float32', 2));
    await compare(model, await batches(2, 2, { targets: true }), 2);
  });

  it("throws a replica's non-finite teacher logits as a NumericalError, and the next step still works", async () => {
    const model = tinyModel(6);
    models.push(model);
    const step = await batches(2, 2, { targets: true });
    const poisoned = {
      ...step[1]!,
      targets: { ...step[1]!.targets!, logits: step[1]!.targets!.logits.slice() },
    };
    poisoned.targets.logits[0] = Number.NaN;
    const pool = await GradientWorkerPool.start(model, settings, { workers: 2 });
    try {
      // Micro-batch 1 goes to the worker replica.
      const error = await pool.accumulate([step[0]!, poisoned]).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(NumericalError);
      expect((error as NumericalError).details).toMatchObject({ replica: 1 });
      const next = await pool.accumulate(step);
      expect(Number.isFinite(next.loss)).toBe(true);
      tf.dispose([...next.gradients.values()]);
    } finally {
      await pool.close();
    }
  });

  it("throws a replica's invalid labels as the InvalidInputError this thread throws, with its code", async () => {
    const model = tinyModel(8);
    models.push(model);
    const step = await batches(2, 2);
    const bad = {
      ...step[1]!,
      labels: step[1]!.labels.map((row) => row.map((id) => (id === -100 ? id : 10_000))),
    };
    let serialError: unknown;
    try {
      accumulateGradients(model, model.namedTrainableVariables(), [bad], settings);
    } catch (error) {
      serialError = error;
    }
    expect(serialError).toBeInstanceOf(InvalidInputError);
    const pool = await GradientWorkerPool.start(model, settings, { workers: 2 });
    try {
      const error = await pool.accumulate([step[0]!, bad]).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(InvalidInputError);
      expect((error as InvalidInputError).code).toBe((serialError as InvalidInputError).code);
      expect((error as InvalidInputError).details).toMatchObject({ replica: 1 });
    } finally {
      await pool.close();
    }
  });

  it('refuses a custom architecture up front, and a closed pool refuses steps', async () => {
    const registry = createArchitectureRegistry({ 'my-llama': { ...llamaArchitecture } });
    const custom = createModel(
      {
        modelType: 'my-llama',
        vocabSize: 32,
        hiddenSize: 8,
        intermediateSize: 16,
        numHiddenLayers: 1,
        numAttentionHeads: 2,
        numKeyValueHeads: 1,
      },
      { architectures: registry },
    );
    models.push(custom);
    const refused = await GradientWorkerPool.start(custom, settings, { workers: 2 }).catch(
      (caught: unknown) => caught,
    );
    expect(isFuseChatError(refused, 'TRAIN_WORKERS_UNSUPPORTED')).toBe(true);
    const model = tinyModel(7);
    models.push(model);
    const pool = await GradientWorkerPool.start(model, settings, { workers: 2 });
    await pool.close();
    const closed = await pool.accumulate(await batches(1, 2)).catch((caught: unknown) => caught);
    expect(isFuseChatError(closed, 'TRAIN_WORKER_FAILED')).toBe(true);
  });

  it('resolves the worker count: undefined is 1, auto is the cores, nonsense is refused', () => {
    expect(resolveWorkerCount(undefined)).toBe(1);
    expect(resolveWorkerCount(3)).toBe(3);
    expect(resolveWorkerCount('auto')).toBeGreaterThanOrEqual(1);
    expect(() => resolveWorkerCount(0)).toThrow(/positive integer/);
    expect(() => resolveWorkerCount(1.5)).toThrow(/positive integer/);
  });
});
