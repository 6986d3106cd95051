// Child process of checkpoint/resume.kill.test.ts: trains the tiny model into argv[2] on the cpu
// backend (argv[4] = 'lora' for LoRA), printing a line at the end of every step and pausing
// there (argv[3] ms) so a SIGKILL can land mid-run.
import { train } from '../trainer/train.js';
import { createArrayDataset } from './array-dataset.js';
import { useBackend } from './test-backends.js';
import { tinyExamples, tinyModel } from './tiny-model.js';

await useBackend('cpu');
const pause = Number(process.argv[3] ?? 0);
const lora = process.argv[4] === 'lora';
const result = await train({
  model: tinyModel(13),
  dataset: createArrayDataset(tinyExamples(10, { seed: 5, targets: true }), { batchSize: 2 }),
  evalDataset: createArrayDataset(tinyExamples(4, { seed: 6, targets: true }), { batchSize: 2 }),
  outputDir: process.argv[2]!,
  training: {
    learningRate: 2e-2,
    maxSteps: 8,
    gradientAccumulationSteps: 2,
    warmupSteps: 2,
    lrSchedulerType: 'cosine',
    weightDecay: 0.01,
    saveSteps: 2,
    saveTotalLimit: 2,
    evalSteps: 3,
    seed: 3,
    lora: lora ? { r: 2, alpha: 4, targetModules: ['q_proj', 'v_proj', 'down_proj'] } : undefined,
  },
  callbacks: [
    {
      onStepEnd: (state) => {
        process.stdout.write(`step ${state.step}\n`);
        if (pause > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, pause);
      },
    },
  ],
});
process.stdout.write(`finished resumedFrom ${result.resumedFrom ?? 0}\n`);
