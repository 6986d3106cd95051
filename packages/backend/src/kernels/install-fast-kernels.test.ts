import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../init-backend.js';
import {
  expectClose,
  expectGradientsMatch,
  randomValues,
  referenceBatchMatMul,
} from '../testing/gradient-check.js';
import { hasFastKernels } from './install-fast-kernels.js';

describe('installFastKernels', () => {
  beforeAll(async () => {
    await initBackend('wasm', { quiet: true });
  });

  it('is installed by initBackend', () => {
    expect(hasFastKernels('wasm')).toBe(true);
    expect(tf.getKernel('UnsortedSegmentSum', 'wasm')).toBeDefined();
  });

  it.each([
    [true, false],
    [false, true],
    [true, true],
  ])(
    'tf.matMul with transposeA=%s transposeB=%s still computes the right product',
    (transposeA, transposeB) => {
      const [batch, m, k, n] = [3, 5, 7, 4];
      const a = randomValues(batch * m * k, 1);
      const b = randomValues(batch * k * n, 2);
      const before = tf.memory().numTensors;
      const dataIdsBefore = tf.engine().backend.numDataIds();
      const aTensor = tf.tensor(Float32Array.from(a), [batch, ...(transposeA ? [k, m] : [m, k])]);
      const bTensor = tf.tensor(Float32Array.from(b), [batch, ...(transposeB ? [n, k] : [k, n])]);
      const product = tf.matMul(aTensor, bTensor, transposeA, transposeB);
      expect(product.shape).toEqual([batch, m, n]);
      expectClose(
        product.dataSync(),
        referenceBatchMatMul(a, b, batch, m, k, n, transposeA, transposeB),
        1e-5,
        'matMul',
      );
      tf.dispose([aTensor, bTensor, product]);
      expect(tf.memory().numTensors).toBe(before);
      // The explicit transposes are raw backend buffers, invisible to tf.memory(): count those too.
      expect(tf.engine().backend.numDataIds()).toBe(dataIdsBefore);
    },
  );

  it.each([
    ['same leading axes, rank 4', [2, 3], [2, 3]],
    ['unbatched left side broadcast', [1], [4]],
    ['unbatched right side broadcast', [3], [1]],
  ] as const)(
    'batched matMul big enough to run item by item on XNNPACK (%s) matches float64 and frees every buffer',
    (_, leadA, leadB) => {
      const [m, k, n] = [40, 36, 48]; // m·k·n above the item-by-item threshold
      const batchA = leadA.reduce((x: number, y: number) => x * y, 1);
      const batchB = leadB.reduce((x: number, y: number) => x * y, 1);
      const batch = Math.max(batchA, batchB);
      const a = randomValues(batchA * m * k, 3);
      const b = randomValues(batchB * k * n, 4);
      // The reference with the unbatched side repeated.
      const repeat = (values: Float64Array, sideBatch: number) =>
        sideBatch === batch
          ? values
          : Float64Array.from({ length: values.length * batch }, (_, i) => values[i % values.length]!);
      const reference = referenceBatchMatMul(repeat(a, batchA), repeat(b, batchB), batch, m, k, n);
      const dataIdsBefore = tf.engine().backend.numDataIds();
      for (const [transposeA, transposeB] of [
        [false, false],
        [true, true],
      ] as const) {
        const aTensor = tf.tensor(Float32Array.from(a), [...leadA, m, k]);
        const bTensor = tf.tensor(Float32Array.from(b), [...leadB, k, n]);
        const left = transposeA
          ? tf.transpose(aTensor, [...leadA.map((__, i) => i), leadA.length + 1, leadA.length])
          : aTensor;
        const right = transposeB
          ? tf.transpose(bTensor, [...leadB.map((__, i) => i), leadB.length + 1, leadB.length])
          : bTensor;
        const product = tf.matMul(left, right, transposeA, transposeB);
        expect(product.shape).toEqual([...(batchA >= batchB ? leadA : leadB), m, n]);
        expectClose(
          product.dataSync(),
          reference,
          1e-5,
          `matMul transposeA=${transposeA} transposeB=${transposeB}`,
        );
        tf.dispose([aTensor, bTensor, left, right, product]);
      }
      expect(tf.engine().backend.numDataIds()).toBe(dataIdsBefore);
    },
  );

  it('keeps tfjs-core matMul gradients (which use the transposes) exact', () => {
    expectGradientsMatch({
      shapes: [
        [2, 4, 3],
        [2, 3, 5],
      ],
      compute: (a, b) => tf.matMul(a!, b!),
      reference: (a, b) => referenceBatchMatMul(a!, b!, 2, 4, 3, 5),
    });
  });

  it('fused matMul with transposeB, bias and relu is right', () => {
    const a = randomValues(4 * 3, 3);
    const b = randomValues(5 * 3, 4);
    const bias = randomValues(5, 5);
    const result = tf.tidy(() =>
      tf.fused
        .matMul({
          a: tf.tensor2d(Float32Array.from(a), [4, 3]),
          b: tf.tensor2d(Float32Array.from(b), [5, 3]),
          transposeB: true,
          bias: tf.tensor1d(Float32Array.from(bias)),
          activation: 'relu',
        })
        .dataSync(),
    );
    const expected = referenceBatchMatMul(a, b, 1, 4, 3, 5, false, true).map((value, i) =>
      Math.max(0, value + bias[i % 5]!),
    );
    expectClose(result, expected, 1e-5, 'fused matMul');
  });

  it.each(['wasm', 'cpu'] as const)(
    'UnsortedSegmentSum on %s adds rows per segment and drops out-of-range ids, like TensorFlow',
    async (name) => {
      await initBackend(name, { quiet: true });
      expect(hasFastKernels(name)).toBe(true);
      const result = tf.tidy(() =>
        tf
          .unsortedSegmentSum(
            tf.tensor2d([
              [1, 2],
              [10, 20],
              [100, 200],
              [1000, 2000],
            ]),
            tf.tensor1d([2, 0, 2, 7], 'int32'),
            3,
          )
          .arraySync(),
      );
      expect(result).toEqual([
        [10, 20],
        [0, 0],
        [101, 202],
      ]);
      await initBackend('wasm', { quiet: true });
    },
  );

  it.each(['wasm', 'cpu'] as const)(
    "makes tf.gather's gradient work on %s, with duplicates and an inner axis",
    async (name) => {
      await initBackend(name, { quiet: true });
      const ids = tf.tensor2d(
        [
          [0, 2],
          [2, 2],
        ],
        undefined,
        'int32',
      );
      const gradient = tf.tidy(() =>
        tf
          .grad((t: tf.Tensor) => tf.sum(tf.gather(t, ids)))(tf.zeros([3, 2]))
          .arraySync(),
      );
      expect(gradient).toEqual([
        [1, 1],
        [0, 0],
        [3, 3],
      ]);
      ids.dispose();
      await initBackend('wasm', { quiet: true });
    },
  );
});
