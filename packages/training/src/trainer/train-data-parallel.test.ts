import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createArrayDataset } from '../testing/array-dataset.js';
import { useBackend } from '../testing/test-backends.js';
import { tinyExamples, tinyModel } from '../testing/tiny-model.js';
import { metricsWithoutTiming, snapshot, temporaryDirectory } from '../testing/trainer-fixtures.js';
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

describe('train with data-parallel workers', () => {
  it('follows the 1-replica trajectory to float32 rounding, rows split or whole micro-batches per replica', async () => {
    const dataset = createArrayDataset(tinyExamples(12, { targets: true }), { batchSize: 3 });
    const training = {
      learningRate: 2e-2,
      maxSteps: 4,
      warmupSteps: 1,
      lrSchedulerType: 'cosine' as const,
      maxGradNorm: 1,
      weightDecay: 0.1,
      seed: 5,
    };
    const run = async (workers: number, accumulation: number) => {
      const model = tinyModel(31);
      const result = await train({
        model,
        dataset,
        training: { ...training, gradientAccumulationSteps: accumulation },
        outputDir: await outputDir(`dp-${workers}-${accumulation}`),
        workers,
      });
      const rows = await metricsWithoutTiming(result.metricsFile);
      const weights = await snapshot(model.weights);
      model.dispose();
      return { result, rows, weights };
    };
    // One micro-batch of 3 rows per step: split by rows over the replicas; then two per step,
    // one whole micro-batch each.
    for (const accumulation of [1, 2]) {
      const serial = await run(1, accumulation);
      const parallel = await run(2, accumulation);
      expect(serial.result.workers).toBe(1);
      expect(parallel.result.workers).toBe(2);
      expect(parallel.result.steps).toBe(4);
      expect(parallel.rows.length).toBe(serial.rows.length);
      parallel.rows.forEach((row, index) => {
        const want = serial.rows[index]!;
        expect(row.step).toBe(want.step);
        expect(row.tokens).toBe(want.tokens);
        for (const key of ['loss', 'clm', 'fusion', 'grad_norm'])
          expect(Math.abs((row[key] as number) - (want[key] as number))).toBeLessThan(
            1e-5 * Math.abs(want[key] as number),
          );
      });
      let worst = 0;
      for (const [name, want] of serial.weights) {
        const got = parallel.weights.get(name)!;
        for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
      }
      // Four AdamW steps of lr 2e-2 move weights by ~0.08; rounding differences stay far below.
      expect(worst).toBeLessThan(1e-4);
    }
  });

  it('resumes a data-parallel run from its checkpoint onto the uninterrupted trajectory', async () => {
    const dataset = createArrayDataset(tinyExamples(8), { batchSize: 2 });
    const training = { learningRate: 2e-2, maxSteps: 4, gradientAccumulationSteps: 2, saveSteps: 2, seed: 3 };
    const uninterrupted = tinyModel(41);
    await train({
      model: uninterrupted,
      dataset,
      training,
      outputDir: await outputDir('dp-whole'),
      workers: 2,
    });
    const whole = await snapshot(uninterrupted.weights);
    uninterrupted.dispose();
    const dir = await outputDir('dp-resumed');
    const first = tinyModel(41);
    await train({
      model: first,
      dataset,
      training,
      callbacks: [{ onStepEnd: (state) => ({ stop: state.step === 2 }) }],
      outputDir: dir,
      workers: 2,
    });
    first.dispose();
    const second = tinyModel(41);
    const result = await train({ model: second, dataset, training, outputDir: dir, workers: 2 });
    expect(result.resumedFrom).toBe(2);
    const resumed = await snapshot(second.weights);
    second.dispose();
    // The same replicas, the same split and order: the same bits.
    for (const [name, want] of whole) expect(resumed.get(name)).toEqual(want);
  });
});
