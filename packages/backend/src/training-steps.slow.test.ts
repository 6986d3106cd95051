// 50 optimizer steps of a tiny attention + SwiGLU block built from the fast ops: the loss goes
// down and neither tfjs tensors nor raw backend buffers accumulate.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { initBackend } from './init-backend.js';
import { batchMatMul } from './ops/batch-mat-mul.js';
import { embeddingLookup } from './ops/embedding-lookup.js';
import { linear } from './ops/linear.js';

describe.each(['wasm', 'cpu'] as const)('training steps on %s', (backend) => {
  it('50 steps: loss falls, tensor and buffer counts stay flat', async () => {
    await initBackend(backend, { quiet: true });
    const [vocab, dim, time, heads] = [17, 8, 6, 2];
    const headDim = dim / heads;
    const init = (shape: number[], seed: number) =>
      tf.variable(tf.randomNormal(shape, 0, 0.3, 'float32', seed));
    const params = {
      embed: init([vocab, dim], 1),
      qkv: init([3 * dim, dim], 2),
      out: init([dim, dim], 3),
      gate: init([2 * dim, dim], 4),
      down: init([dim, dim], 5),
      head: init([vocab, dim], 6),
    };
    const ids = tf.tensor2d([[1, 5, 9, 2, 7, 3]], undefined, 'int32');
    // Flat positions of each next-token label in the [time, vocab] log-probabilities.
    const labelIndex = tf.tensor1d(
      [5, 9, 2, 7, 3, 11].map((label, t) => t * vocab + label),
      'int32',
    );
    const causal = tf.cast(tf.linalg.bandPart(tf.ones([time, time]), -1, 0), 'bool');
    const optimizer = tf.train.adam(0.05);

    const loss = (): tf.Scalar => {
      const hidden = embeddingLookup(params.embed, ids); // [1, T, D]
      const [q, k, v] = tf
        .split(linear(hidden, params.qkv), 3, -1)
        .map((t) => tf.transpose(tf.reshape(t, [1, time, heads, headDim]), [0, 2, 1, 3])) as [
        tf.Tensor,
        tf.Tensor,
        tf.Tensor,
      ];
      const scores = tf.div(batchMatMul(q, k, { transposeB: true }), Math.sqrt(headDim));
      const masked = tf.where(tf.broadcastTo(causal, scores.shape), scores, tf.fill(scores.shape, -1e9));
      const attended = tf.reshape(tf.transpose(batchMatMul(tf.softmax(masked), v), [0, 2, 1, 3]), [
        1,
        time,
        dim,
      ]);
      const residual = tf.add(hidden, linear(attended, params.out));
      const [gate, up] = tf.split(linear(residual, params.gate), 2, -1) as [tf.Tensor, tf.Tensor];
      const mlp = linear(tf.mul(tf.mul(gate, tf.sigmoid(gate)), up), params.down);
      const logits = tf.reshape(linear(tf.add(residual, mlp), params.head), [time, vocab]);
      return tf.neg(tf.mean(tf.gather(tf.reshape(tf.logSoftmax(logits), [-1]), labelIndex))) as tf.Scalar;
    };

    const step = () => {
      const value = optimizer.minimize(loss, true) as tf.Scalar;
      const result = value.dataSync()[0]!;
      value.dispose();
      return result;
    };
    const first = step();
    const tensors = tf.memory().numTensors;
    const buffers = tf.engine().backend.numDataIds();
    let last = first;
    for (let i = 1; i < 50; i++) last = step();
    expect(tf.memory().numTensors).toBe(tensors);
    expect(tf.engine().backend.numDataIds()).toBe(buffers);
    expect(last).toBeLessThan(first * 0.5);
    optimizer.dispose();
    tf.dispose([ids, labelIndex, causal, ...Object.values(params)]);
  });
});
