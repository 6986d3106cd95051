import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { initBackend } from './init-backend.js';
import { measureMatMulGflops } from './measure-mat-mul-gflops.js';

describe('measureMatMulGflops', () => {
  it.each(['wasm', 'cpu'] as const)(
    'returns a finite positive rate on %s and leaves no tensors',
    async (name) => {
      await initBackend(name, { quiet: true });
      const before = tf.memory().numTensors;
      const gflops = await measureMatMulGflops({ size: 64, repeats: 2 });
      expect(Number.isFinite(gflops) && gflops > 0).toBe(true);
      expect(tf.memory().numTensors).toBe(before);
    },
  );
});
