import { existsSync } from 'node:fs';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createArrayDataset } from '../testing/array-dataset.js';
import { useBackend } from '../testing/test-backends.js';
import { tinyExamples, tinyModel } from '../testing/tiny-model.js';
import { temporaryDirectory } from '../testing/trainer-fixtures.js';
import { train } from '../trainer/train.js';
import { listCheckpoints, readTrainerState } from './list-checkpoints.js';

const dirs: string[] = [];
beforeAll(async () => {
  await useBackend('cpu');
});
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

const training = { learningRate: 1e-2, maxSteps: 4, saveSteps: 2, seed: 1 };
const dataset = createArrayDataset(tinyExamples(8), { batchSize: 2 });

async function trainedDir(label: string, lora?: { r: number; alpha: number }): Promise<string> {
  const dir = await temporaryDirectory(label);
  dirs.push(dir);
  const model = tinyModel(1);
  await train({ model, dataset, training: { ...training, maxSteps: 2, lora }, outputDir: dir });
  model.dispose();
  return dir;
}

describe('checkpoints', () => {
  it('records step, cursor, seed, fingerprints and the optimizer step in trainer_state.json', async () => {
    const dir = await trainedDir('state');
    const [entry] = await listCheckpoints(dir);
    const state = await readTrainerState(entry!.dir);
    expect(state).toMatchObject({
      globalStep: 2,
      epoch: 0.5,
      totalSteps: 2,
      cursor: { epoch: 0, batchIndex: 2 },
      rng: { seed: 1 },
      datasetFingerprint: dataset.fingerprint,
      lora: null,
    });
    expect(state.modelIdentity).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect((await readdir(entry!.dir)).sort()).toEqual([
      'config.json',
      'model.safetensors',
      'optimizer.safetensors',
      'trainer_state.json',
    ]);
  });

  it('refuses to resume with another dataset, another model or other LoRA settings', async () => {
    const dir = await trainedDir('mismatch');
    const other = createArrayDataset(tinyExamples(8, { seed: 99 }), { batchSize: 2 });
    const resume = (model = tinyModel(1), data = dataset, lora?: { r: number; alpha: number }) =>
      train({ model, dataset: data, training: { ...training, lora }, outputDir: dir }).finally(() =>
        model.dispose(),
      );
    await expect(resume(tinyModel(1), other)).rejects.toMatchObject({
      code: 'TRAIN_RESUME_MISMATCH',
      details: { field: 'dataset' },
    });
    await expect(resume(tinyModel(2))).rejects.toMatchObject({
      code: 'TRAIN_RESUME_MISMATCH',
      details: { field: 'model' },
    });
    await expect(resume(tinyModel(1), dataset, { r: 2, alpha: 2 })).rejects.toThrow(
      /another LoRA configuration .*resume with the same LoRA configuration/,
    );
    // Refused before the model is touched: no adapters attached, weights unchanged.
    const untouched = tinyModel(1);
    await expect(
      train({
        model: untouched,
        dataset,
        training: { ...training, lora: { r: 2, alpha: 2 } },
        outputDir: dir,
      }),
    ).rejects.toMatchObject({ code: 'TRAIN_RESUME_MISMATCH' });
    expect(untouched.adapters.size).toBe(0);
    untouched.dispose();
    // The matching resume continues from step 2.
    const model = tinyModel(1);
    const result = await train({ model, dataset, training, outputDir: dir });
    expect([result.resumedFrom, result.steps]).toEqual([2, 4]);
    model.dispose();
  });

  it('ignores and cleans up temp directories and incomplete checkpoints a killed run left', async () => {
    const dir = await trainedDir('stale');
    await mkdir(join(dir, '.tmp-checkpoint-4-12345'));
    await writeFile(join(dir, '.tmp-checkpoint-4-12345', 'model.safetensors'), 'partial');
    await mkdir(join(dir, 'checkpoint-9'));
    expect((await listCheckpoints(dir)).map((entry) => entry.step)).toEqual([2]);
    const model = tinyModel(1);
    const result = await train({ model, dataset, training, outputDir: dir });
    expect(result.resumedFrom).toBe(2);
    expect(existsSync(join(dir, '.tmp-checkpoint-4-12345'))).toBe(false);
    model.dispose();
  });

  it("resumes from an explicit checkpoint; 'never' starts over; a non-checkpoint path is refused", async () => {
    const dir = await trainedDir('explicit');
    const model = tinyModel(1);
    const explicit = await train({
      model,
      dataset,
      training,
      outputDir: dir,
      resume: join(dir, 'checkpoint-2'),
    });
    expect(explicit.resumedFrom).toBe(2);
    model.dispose();
    const fresh = tinyModel(1);
    const never = await train({ model: fresh, dataset, training, outputDir: dir, resume: 'never' });
    expect([never.resumedFrom, never.steps]).toEqual([undefined, 4]);
    fresh.dispose();
    const third = tinyModel(1);
    await expect(
      train({ model: third, dataset, training, outputDir: dir, resume: dir }),
    ).rejects.toMatchObject({
      code: 'TRAIN_CHECKPOINT_NOT_FOUND',
    });
    third.dispose();
  });
});
