import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../init-backend.js';
import { expectGradientsMatch } from '../testing/gradient-check.js';
import { linear } from './linear.js';

function referenceLinear(
  x: Float64Array,
  w: Float64Array,
  b: Float64Array | undefined,
  out: number,
  inn: number,
) {
  const rows = x.length / inn;
  const y = new Float64Array(rows * out);
  for (let n = 0; n < rows; n++)
    for (let o = 0; o < out; o++) {
      let total = b ? b[o]! : 0;
      for (let i = 0; i < inn; i++) total += x[n * inn + i]! * w[o * inn + i]!;
      y[n * out + o] = total;
    }
  return y;
}

describe.each(['wasm', 'cpu'] as const)('linear on %s', (backend) => {
  beforeAll(async () => {
    await initBackend(backend, { quiet: true });
  });
  afterAll(() => undefined);

  it('matches y = x Wᵀ + b and its finite-difference gradients (rank-3 x)', () => {
    expectGradientsMatch({
      shapes: [[2, 3, 5], [4, 5], [4]],
      compute: (x, w, b) => linear(x!, w!, b),
      reference: (x, w, b) => referenceLinear(x!, w!, b, 4, 5),
    });
  });

  it('works without bias on rank-2 and rank-1 inputs', () => {
    expectGradientsMatch({
      shapes: [
        [6, 3],
        [7, 3],
      ],
      compute: (x, w) => linear(x!, w!),
      reference: (x, w) => referenceLinear(x!, w!, undefined, 7, 3),
      seed: 2,
    });
    expectGradientsMatch({
      shapes: [[3], [2, 3]],
      compute: (x, w) => linear(x!, w!),
      reference: (x, w) => referenceLinear(x!, w!, undefined, 2, 3),
      seed: 3,
    });
  });

  it('trains weights through tf.variableGrads without leaking tensors', () => {
    const weight = tf.variable(tf.randomNormal([8, 4], 0, 1, 'float32', 1));
    const x = tf.randomNormal([5, 4], 0, 1, 'float32', 2);
    const step = () => {
      const { value, grads } = tf.variableGrads(() => tf.mean(tf.square(linear(x, weight))) as tf.Scalar);
      tf.tidy(() => weight.assign(tf.sub(weight, tf.mul(grads[weight.name]!, 0.1))));
      const loss = value.dataSync()[0]!;
      tf.dispose([value, ...Object.values(grads)]);
      return loss;
    };
    const first = step();
    const before = tf.memory().numTensors;
    let last = first;
    for (let i = 0; i < 10; i++) last = step();
    expect(tf.memory().numTensors).toBe(before);
    expect(last).toBeLessThan(first);
    tf.dispose([weight, x]);
  });

  it('rejects mismatched shapes with both shapes in the error', () => {
    const x = tf.zeros([2, 3]);
    const w = tf.zeros([4, 5]);
    expect(() => linear(x, w)).toThrow(/last axis of x \(\[2,3\]\) must equal weight's in-features 5/);
    expect(() => linear(x, tf.zeros([4, 3]), tf.zeros([3]))).toThrow(/bias must be \[4\]/);
    tf.dispose([x, w]);
  });
});
