import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { ProgressEvent } from '@fusechat/core';
import { clmLoss } from '@fusechat/distillation-loss';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isDecayParameter } from '../optimizer/is-decay-parameter.js';
import { createArrayDataset } from '../testing/array-dataset.js';
import {
  createReferenceAdamW,
  referenceAccumulate,
  referenceClipGradNorm,
  referenceLearningRate,
  worstRelativeError,
} from '../testing/reference-training.js';
import { useBackend } from '../testing/test-backends.js';
import { tinyExamples, tinyModel } from '../testing/tiny-model.js';
import { metricsWithoutTiming, snapshot, temporaryDirectory } from '../testing/trainer-fixtures.js';
import type { TrainingDataset } from '../training-dataset.js';
import { train } from './train.js';

const dirs: string[] = [];
async function outputDir(label: string): Promise<string> {
  const dir = await temporaryDirectory(label);
  dirs.push(dir);
  return dir;
}

beforeAll(async () => {
  await useBackend('cpu');
});
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

describe('train', () => {
  it('follows a float64 transcription of accumulation, clipping, the schedule and AdamW, step by step', async () => {
    const examples = tinyExamples(10);
    const dataset = createArrayDataset(examples, { batchSize: 2 });
    const seed = 11;
    const training = {
      learningRate: 3e-2,
      maxSteps: 6,
      gradientAccumulationSteps: 2,
      warmupSteps: 1,
      lrSchedulerType: 'cosine' as const,
      maxGradNorm: 2.2,
      weightDecay: 0.1,
      adamBeta2: 0.95,
      seed,
    };
    const model = tinyModel(21);
    const variables = model.namedTrainableVariables();
    const trajectory = [await snapshot(variables)];
    const result = await train({
      model,
      dataset,
      training,
      outputDir: await outputDir('reference'),
      callbacks: [{ onStepEnd: async () => void trajectory.push(await snapshot(variables)) }],
    });
    expect(result.steps).toBe(6);
    const rows = await metricsWithoutTiming(result.metricsFile);
    expect(rows).toHaveLength(6);

    // The reference: HF's batch order (5 batches per epoch, 2 per step → 3 steps per epoch, the
    // third with one batch), per-micro-batch mean-loss gradients at θ_s, combined in float64.
    const probe = tinyModel(21);
    const probeVariables = probe.namedTrainableVariables();
    const decayed = new Set([...variables.keys()].filter(isDecayParameter));
    const reference = createReferenceAdamW({
      beta1: 0.9,
      beta2: 0.95,
      epsilon: 1e-8,
      weightDecay: 0.1,
      decayed,
    });
    let clipped = 0;
    for (let step = 0; step < 6; step++) {
      for (const [name, variable] of probeVariables) {
        variable.assign(tf.tensor(Float32Array.from(trajectory[step]!.get(name)!), variable.shape));
      }
      const epoch = Math.floor(step / 3);
      const first = (step % 3) * 2;
      const indices = [first, first + 1].filter((index) => index < 5);
      const micro: Map<string, Float64Array>[] = [];
      const supervised: number[] = [];
      const losses: number[] = [];
      for (const index of indices) {
        const batch = await dataset.batch(epoch, index, seed);
        const ids = tf.tensor2d(batch.inputIds as number[][], undefined, 'int32');
        const { value, grads } = tf.variableGrads(
          () =>
            clmLoss(probe.forward(ids, { attentionMask: batch.attentionMask }), batch.labels as number[][]),
          [...probeVariables.values()],
        );
        micro.push(await snapshot(new Map([...probeVariables].map(([name, v]) => [name, grads[v.name]!]))));
        supervised.push(batch.supervisedPositions);
        losses.push(value.dataSync()[0]!);
        tf.dispose([ids, value, ...Object.values(grads)]);
      }
      const total = supervised.reduce((a, b) => a + b, 0);
      const gradients = referenceAccumulate(micro, supervised);
      const norm = referenceClipGradNorm(gradients, 2.2);
      if (norm > 2.2) clipped++;
      const lr = referenceLearningRate('cosine', step, 3e-2, 1, 6);
      const expected = reference.step(trajectory[step]!, gradients, lr);
      const row = rows[step]!;
      expect(row.step).toBe(step + 1);
      expect(row.lr).toBe(lr);
      expect(row.grad_norm as number).toBeCloseTo(norm, 5);
      expect(row.loss as number).toBeCloseTo(
        losses.reduce((sum, loss, i) => sum + (loss * supervised[i]!) / total, 0),
        6,
      );
      // k_proj.bias has an analytically zero gradient (softmax ignores a per-query constant): Adam
      // normalises its float32 noise, which no two summation orders share. Compared elsewhere.
      const comparable = (map: Map<string, Float64Array>) =>
        new Map([...map].filter(([name]) => !name.endsWith('k_proj.bias')));
      const actual = comparable(trajectory[step + 1]!);
      const parameters = worstRelativeError(actual, comparable(expected), 1e-7, 2e-6);
      expect(
        parameters.ratio,
        `step ${step + 1}: ${parameters.name}[${parameters.index}]`,
      ).toBeLessThanOrEqual(1);
      const delta = (map: Map<string, Float64Array>) =>
        new Map(
          [...map].map(([name, values]) => [
            name,
            values.map((x, i) => x - trajectory[step]!.get(name)![i]!),
          ]),
        );
      const updates = worstRelativeError(delta(actual), delta(comparable(expected)), 1e-4 * lr + 1e-9, 1e-3);
      expect(updates.ratio, `step ${step + 1} update: ${updates.name}[${updates.index}]`).toBeLessThanOrEqual(
        1,
      );
    }
    // Clipping was exercised on some steps and not all (so both branches were compared).
    expect(clipped).toBeGreaterThan(0);
    expect(clipped).toBeLessThan(6);
    probe.dispose();
    model.dispose();
  });

  it('4 micro-batches × 2 examples give the update of 1 batch × 8 (normalised by the whole step)', async () => {
    const examples = tinyExamples(16, { seed: 3 });
    const small = createArrayDataset(examples, { batchSize: 2 });
    const large = createArrayDataset(examples, { batchSize: 8 });
    const counts = await Promise.all(
      [0, 1, 2, 3].map(async (i) => (await small.batch(0, i, 5)).supervisedPositions),
    );
    expect(new Set(counts).size).toBeGreaterThan(1); // unequal micro-batches: a plain mean of means would differ
    const training = { learningRate: 1e-2, maxSteps: 3, seed: 5, maxGradNorm: null, warmupSteps: 0 };
    const a = tinyModel(8);
    const b = tinyModel(8);
    const resultA = await train({
      model: a,
      dataset: small,
      training: { ...training, gradientAccumulationSteps: 4 },
      outputDir: await outputDir('accumulated'),
    });
    const resultB = await train({ model: b, dataset: large, training, outputDir: await outputDir('large') });
    const rowsA = await metricsWithoutTiming(resultA.metricsFile);
    const rowsB = await metricsWithoutTiming(resultB.metricsFile);
    for (const [i, row] of rowsA.entries()) {
      expect(row.loss as number).toBeCloseTo(rowsB[i]!.loss as number, 5);
      expect(row.grad_norm as number).toBeCloseTo(rowsB[i]!.grad_norm as number, 5);
      expect(row.tokens).toBe(rowsB[i]!.tokens);
    }
    const worst = worstRelativeError(
      await snapshot(a.namedTrainableVariables()),
      await snapshot(b.namedTrainableVariables()),
      1e-6,
      1e-5,
    );
    expect(worst.ratio, `${worst.name}[${worst.index}]`).toBeLessThanOrEqual(1);
    a.dispose();
    b.dispose();
  });

  it('is deterministic under a seed, keeps the tensor count flat, logs metrics, progress and the loss curve', async () => {
    const examples = tinyExamples(12, { seed: 4, targets: true });
    const dataset = createArrayDataset(examples, { batchSize: 3 });
    const evalDataset = createArrayDataset(tinyExamples(4, { seed: 9, targets: true }), { batchSize: 2 });
    const run = async (seed: number) => {
      const model = tinyModel(2);
      const tensors: number[] = [];
      const events: ProgressEvent[] = [];
      const result = await train({
        model,
        dataset,
        evalDataset,
        training: { learningRate: 5e-3, maxSteps: 6, evalSteps: 3, seed, lmLossWeight: 0.7, loggingSteps: 2 },
        outputDir: await outputDir(`determinism-${seed}`),
        onProgress: (event) => events.push(event),
        callbacks: [{ onStepEnd: () => void tensors.push(tf.memory().numTensors) }],
      });
      const weights = await snapshot(model.weights);
      model.dispose();
      return { result, tensors, events, weights, rows: await metricsWithoutTiming(result.metricsFile) };
    };
    const first = await run(1);
    const again = await run(1);
    const other = await run(2);
    expect(again.rows).toEqual(first.rows);
    expect(again.weights).toEqual(first.weights);
    expect(other.rows.map((row) => row.loss)).not.toEqual(first.rows.map((row) => row.loss));
    // Every step after the first ends with the same number of tensors (evaluation steps included).
    expect(new Set(first.tensors.slice(1)).size).toBe(1);
    // Rows: training every 2 steps (window means), evaluation at steps 3 and 6.
    expect(first.rows.map((row) => [row.step, 'eval_loss' in row])).toEqual([
      [2, false],
      [3, true],
      [4, false],
      [6, false],
      [6, true],
    ]);
    const trainRow = first.rows[0]!;
    for (const field of ['epoch', 'loss', 'clm', 'fusion', 'lr', 'grad_norm', 'tokens'])
      expect(trainRow).toHaveProperty(field);
    expect(trainRow.loss as number).toBeCloseTo(
      0.7 * (trainRow.clm as number) + 0.3 * (trainRow.fusion as number),
      6,
    );
    const evalRow = first.rows[1]!;
    expect(evalRow.eval_perplexity as number).toBeCloseTo(Math.exp(evalRow.eval_clm as number), 8);
    expect(first.result.bestEvalLoss).toBe(
      Math.min(evalRow.eval_loss as number, first.rows[4]!.eval_loss as number),
    );
    const raw = JSON.parse((await readFile(first.result.metricsFile, 'utf8')).split('\n')[0]!);
    expect(raw.tokens_per_second).toBeGreaterThan(0);
    expect(first.events.map((event) => event.completed)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(
      first.events.every((event) => event.task === 'train' && event.total === 6 && event.unit === 'steps'),
    ).toBe(true);
    expect(first.events.at(-1)!.detail).toMatch(/^loss \d+\.\d{4} lr \S+ \S+ tok\/s$/);
    const svg = await readFile(first.result.lossCurveFile!, 'utf8');
    expect(svg).toMatch(/^<svg[\s\S]*eval loss[\s\S]*<\/svg>$/);
    expect(existsSync(join(first.result.modelDir, 'model.safetensors'))).toBe(true);
    expect(existsSync(join(first.result.modelDir, 'config.json'))).toBe(true);
  });

  it('trains LoRA adapters only, saves them in PEFT layout and merges them at the end', async () => {
    const model = tinyModel(6);
    const before = await snapshot(model.weights);
    const result = await train({
      model,
      dataset: createArrayDataset(tinyExamples(8), { batchSize: 4 }),
      training: {
        learningRate: 5e-2,
        maxSteps: 3,
        saveSteps: 2,
        lora: { r: 2, alpha: 4, targetModules: ['q_proj', 'v_proj'] },
      },
      outputDir: await outputDir('lora'),
    });
    expect(model.adapters.size).toBe(0);
    const after = await snapshot(model.weights);
    for (const [name, values] of after) {
      const targeted = /\.(q_proj|v_proj)\.weight$/.test(name);
      if (targeted) expect(values, name).not.toEqual(before.get(name));
      else expect(values, name).toEqual(before.get(name));
    }
    expect(existsSync(join(result.adapterDir!, 'adapter_model.safetensors'))).toBe(true);
    const config = JSON.parse(await readFile(join(result.adapterDir!, 'adapter_config.json'), 'utf8'));
    expect(config).toMatchObject({ peft_type: 'LORA', r: 2, lora_alpha: 4 });
    expect(result.checkpoints.map((dir) => dir.split('/').at(-1))).toEqual(['checkpoint-2', 'checkpoint-3']);
    expect(existsSync(join(result.checkpoints[0]!, 'adapter_model.safetensors'))).toBe(true);
    expect(existsSync(join(result.checkpoints[0]!, 'model.safetensors'))).toBe(false);
    model.dispose();
  });

  it('stops on a callback request and on early stopping, saving a checkpoint there', async () => {
    const dataset = createArrayDataset(tinyExamples(8), { batchSize: 2 });
    const stopped = tinyModel(3);
    const byCallback = await train({
      model: stopped,
      dataset,
      training: { learningRate: 1e-3, maxSteps: 10, saveSteps: 100 },
      outputDir: await outputDir('callback-stop'),
      callbacks: [{ onStepEnd: (state) => ({ stop: state.step === 4 }) }],
    });
    expect([byCallback.steps, byCallback.stoppedEarly]).toEqual([4, true]);
    expect(byCallback.checkpoints.map((dir) => dir.split('/').at(-1))).toEqual(['checkpoint-4']);
    // lr 0: the eval loss never improves after the first evaluation → patience 2 ends at step 3.
    const evaluations: number[] = [];
    const early = await train({
      model: stopped,
      dataset,
      evalDataset: createArrayDataset(tinyExamples(3, { seed: 2 }), { batchSize: 3 }),
      training: { learningRate: 0, maxSteps: 10, evalSteps: 1, earlyStopping: { patience: 2 } },
      outputDir: await outputDir('early-stop'),
      callbacks: [{ onEvaluate: (_, metrics) => void evaluations.push(metrics.evalLoss) }],
    });
    expect([early.steps, early.stoppedEarly, evaluations.length]).toEqual([3, true, 3]);
    stopped.dispose();
  });

  it('refuses a second trainer on the same output directory while the first runs', async () => {
    const dataset = createArrayDataset(tinyExamples(4), { batchSize: 2 });
    const model = tinyModel(5);
    const dir = await outputDir('locked');
    let second: unknown;
    const first = await train({
      model,
      dataset,
      training: { learningRate: 1e-3, maxSteps: 2, saveSteps: 100 },
      outputDir: dir,
      callbacks: [
        {
          onStepEnd: async (state) => {
            if (state.step !== 1) return;
            second = await train({
              model,
              dataset,
              training: { learningRate: 1e-3, maxSteps: 1 },
              outputDir: dir,
            }).catch((error: unknown) => error);
          },
        },
      ],
    });
    expect(first.steps).toBe(2);
    expect(second).toMatchObject({ code: 'OUTPUT_LOCKED' });
    // Released at the end: the directory can be trained into again.
    const again = await train({
      resume: 'never',
      model,
      dataset,
      training: { learningRate: 1e-3, maxSteps: 2 },
      outputDir: dir,
    });
    expect(again.steps).toBe(2);
    model.dispose();
  });

  it('stops on a non-finite loss naming the step, the last checkpoint intact; or skips the step', async () => {
    const dataset = createArrayDataset(tinyExamples(8), { batchSize: 2 });
    const model = tinyModel(3);
    const dir = await outputDir('nan-stop');
    const run = train({
      model,
      dataset,
      training: { learningRate: 1e-3, maxSteps: 6, saveSteps: 2 },
      outputDir: dir,
      callbacks: [
        {
          // Poison a weight once checkpoint-2 is on disk: step 3 is the first non-finite one.
          onSave: (state) => {
            if (state.step === 2) {
              const weight = state.model.weights.get('model.norm.weight')!;
              weight.assign(tf.fill(weight.shape, Number.NaN));
            }
          },
        },
      ],
    });
    await expect(run).rejects.toMatchObject({ code: 'TRAIN_NON_FINITE', details: { step: 3 } });
    await expect(run).rejects.toThrow(/Step 3 produced a non-finite loss .*checkpoint-2 is intact/);
    const { openCheckpoint } = await import('@fusechat/safetensors');
    const saved = await openCheckpoint(join(dir, 'checkpoint-2'));
    expect(Array.from(await saved.readFloat32('model.norm.weight')).every(Number.isFinite)).toBe(true);
    await saved.close();
    model.dispose();

    // One batch with NaN teacher logits: its step is skipped, the others train.
    const examples = tinyExamples(8, { targets: true });
    const good = createArrayDataset(examples, { batchSize: 2, shuffle: false });
    const poisoned: TrainingDataset = {
      ...good,
      async batch(epoch, index, seed) {
        const batch = await good.batch(epoch, index, seed);
        if (index !== 1) return batch;
        return {
          ...batch,
          targets: { ...batch.targets!, logits: batch.targets!.logits.map(() => Number.NaN) },
        };
      },
    };
    const skipping = tinyModel(3);
    const result = await train({
      model: skipping,
      dataset: poisoned,
      training: { learningRate: 1e-3, maxSteps: 4, nonFinite: 'skip' },
      outputDir: await outputDir('nan-skip'),
    });
    expect([result.steps, result.skippedSteps]).toEqual([4, 1]);
    const rows = await metricsWithoutTiming(result.metricsFile);
    expect(rows[1]).toMatchObject({ step: 2, loss: null, skipped_steps: 1 });
    expect(rows.filter((row) => row.loss === null)).toHaveLength(1);
    for (const values of (await snapshot(skipping.weights)).values())
      expect(values.every(Number.isFinite)).toBe(true);
    skipping.dispose();
  });

  it('refuses impossible options before training, all at once', async () => {
    const model = tinyModel(1);
    const run = train({
      model,
      dataset: createArrayDataset(tinyExamples(4), { batchSize: 2 }),
      training: { learningRate: -1, gradientAccumulationSteps: 0, maxSteps: 5, warmupSteps: 9 },
      outputDir: await outputDir('invalid'),
    });
    await expect(run).rejects.toMatchObject({ code: 'TRAIN_INVALID_OPTIONS' });
    await expect(run).rejects.toThrow(
      /learningRate.*gradientAccumulationSteps.*warmup \(9 steps\) is longer than the run \(5 steps\)/,
    );
    model.dispose();
  });
});
