import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../init-backend.js';
import { expectGradientsMatch } from '../testing/gradient-check.js';
import { embeddingLookup } from './embedding-lookup.js';

const ids = [
  [3, 0, 3],
  [1, 3, 4],
]; // duplicates on purpose: their gradients must add up; row 2 is never looked up

function referenceLookup(table: Float64Array, dim: number): Float64Array {
  const flat = ids.flat();
  const out = new Float64Array(flat.length * dim);
  flat.forEach((id, t) => {
    for (let j = 0; j < dim; j++) out[t * dim + j] = table[id * dim + j]!;
  });
  return out;
}

describe.each(['wasm', 'cpu'] as const)('embeddingLookup on %s', (backend) => {
  beforeAll(async () => {
    await initBackend(backend, { quiet: true });
  });

  it('looks up rows and scatters gradients back, adding duplicates', () => {
    const idTensor = tf.tensor2d(ids, undefined, 'int32');
    expectGradientsMatch({
      shapes: [[5, 4]],
      compute: (table) => embeddingLookup(table!, idTensor),
      reference: (table) => referenceLookup(table!, 4),
    });
    idTensor.dispose();
  });

  it("matches tf.gather's own gradient (which the fast kernels make work on wasm)", () => {
    const table = tf.randomNormal([6, 3], 0, 1, 'float32', 3);
    const idTensor = tf.tensor1d([5, 0, 5, 2], 'int32');
    const ours = tf.grad((t: tf.Tensor) => tf.sum(tf.square(embeddingLookup(t, idTensor))))(table);
    const native = tf.grad((t: tf.Tensor) => tf.sum(tf.square(tf.gather(t, idTensor))))(table);
    expect(Array.from(ours.dataSync())).toEqual(Array.from(native.dataSync()));
    tf.dispose([table, idTensor, ours, native]);
  });

  it('rejects float ids', () => {
    const table = tf.zeros([3, 2]);
    const floatIds = tf.tensor1d([0, 1]);
    expect(() => embeddingLookup(table, floatIds)).toThrow(/ids must be int32/);
    tf.dispose([table, floatIds]);
  });
});
