import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../init-backend.js';
import { expectGradientsMatch, referenceBatchMatMul } from '../testing/gradient-check.js';
import { batchMatMul } from './batch-mat-mul.js';

describe.each(['wasm', 'cpu'] as const)('batchMatMul on %s', (backend) => {
  beforeAll(async () => {
    await initBackend(backend, { quiet: true });
  });

  // [batch=2, heads=3] leading axes, m=4, k=5, n=3
  it.each([
    [false, false],
    [false, true],
    [true, false],
    [true, true],
  ])('transposeA=%s transposeB=%s matches float64 and finite differences', (transposeA, transposeB) => {
    const [m, k, n] = [4, 5, 3];
    expectGradientsMatch({
      shapes: [
        [2, 3, ...(transposeA ? [k, m] : [m, k])],
        [2, 3, ...(transposeB ? [n, k] : [k, n])],
      ],
      compute: (a, b) => batchMatMul(a!, b!, { transposeA, transposeB }),
      reference: (a, b) => referenceBatchMatMul(a!, b!, 6, m, k, n, transposeA, transposeB),
      seed: 7,
    });
  });

  it('rejects broadcasting and mismatched inner sizes', () => {
    const a = tf.zeros([2, 4, 5]);
    expect(() => batchMatMul(a, tf.zeros([1, 5, 3]))).toThrow(/same leading axes/);
    expect(() => batchMatMul(a, tf.zeros([2, 4, 3]))).toThrow(/matching inner sizes/);
    expect(() => batchMatMul(a, tf.zeros([2, 3, 5]), { transposeB: true })).not.toThrow();
    tf.dispose(a);
  });
});
