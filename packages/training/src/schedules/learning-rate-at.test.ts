import { describe, expect, it } from 'vitest';
import { referenceLearningRate } from '../testing/reference-training.js';
import { LEARNING_RATE_SCHEDULES, learningRateAt, warmupStepsFor } from './learning-rate-at.js';

// transformers tests/optimization/test_optimization.py (ScheduleInitTest): lr 10, 2 warmup
// steps, 10 training steps, the lr of each of the first 10 optimizer steps (tolerance 1e-2).
const HF_GOLDEN = {
  constant: [10, 10, 10, 10, 10, 10, 10, 10, 10, 10],
  constant_with_warmup: [0, 5, 10, 10, 10, 10, 10, 10, 10, 10],
  linear: [0, 5, 10, 8.75, 7.5, 6.25, 5, 3.75, 2.5, 1.25],
  cosine: [0, 5, 10, 9.61, 8.53, 6.91, 5, 3.08, 1.46, 0.38],
} as const;

describe('learningRateAt', () => {
  for (const schedule of LEARNING_RATE_SCHEDULES) {
    it(`${schedule}: the HF test suite's values`, () => {
      const lrs = Array.from({ length: 10 }, (_, step) =>
        learningRateAt(step, { schedule, peak: 10, warmupSteps: 2, totalSteps: 10 }),
      );
      for (const [step, lr] of lrs.entries()) {
        expect(Math.abs(lr - HF_GOLDEN[schedule][step]!)).toBeLessThan(1e-2);
      }
    });

    it(`${schedule}: equals the HF lambda transcription over warmup, decay and past the end`, () => {
      for (const [warmup, total] of [
        [0, 7],
        [3, 11],
        [5, 5],
        [1, 1],
      ] as const) {
        for (let step = 0; step <= total + 2; step++) {
          expect(learningRateAt(step, { schedule, peak: 3e-4, warmupSteps: warmup, totalSteps: total })).toBe(
            referenceLearningRate(schedule, step, 3e-4, warmup, total),
          );
        }
      }
    });
  }

  it('defaults to linear without warmup and refuses unknown schedules', () => {
    expect(learningRateAt(5, { peak: 1, totalSteps: 10 })).toBe(0.5);
    expect(() => learningRateAt(0, { schedule: 'step' as never, peak: 1, totalSteps: 1 })).toThrow(
      /Unknown learning-rate schedule "step"/,
    );
  });

  it('derives warmup steps as HF does: warmupSteps wins, else ceil(ratio · total)', () => {
    expect(warmupStepsFor({ warmupRatio: 0.03, totalSteps: 1000 })).toBe(30);
    expect(warmupStepsFor({ warmupRatio: 0.1, totalSteps: 25 })).toBe(3);
    expect(warmupStepsFor({ warmupSteps: 4, warmupRatio: 0.5, totalSteps: 25 })).toBe(4);
    expect(warmupStepsFor({ totalSteps: 25 })).toBe(0);
  });
});
