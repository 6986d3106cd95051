import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { TEST_BACKENDS, useBackend } from '../testing/test-backends.js';
import { createModel } from './create-model.js';

function nextTokenLoss(logits: tf.Tensor3D, ids: tf.Tensor2D): tf.Scalar {
  const [batch, time, vocab] = logits.shape;
  const predictions = tf.reshape(tf.slice(logits, [0, 0, 0], [batch, time - 1, vocab]), [-1, vocab]);
  const targets = tf.oneHot(tf.reshape(tf.slice(ids, [0, 1], [batch, time - 1]), [-1]), vocab);
  return tf.neg(tf.mean(tf.sum(tf.mul(tf.logSoftmax(predictions), targets), -1))) as tf.Scalar;
}

describe.each(TEST_BACKENDS)('training (%s)', (backend) => {
  it('50 Adam steps: no tensor leaks, loss goes down, every weight moves', async () => {
    await useBackend(backend);
    const model = createModel(
      {
        modelType: 'llama',
        vocabSize: 32,
        hiddenSize: 32,
        intermediateSize: 64,
        numHiddenLayers: 2,
        numAttentionHeads: 4,
        numKeyValueHeads: 2,
      },
      { seed: 2 },
    );
    const optimizer = tf.train.adam(0.01);
    const ids = tf.tensor2d(
      [
        Array.from({ length: 16 }, (_, i) => (i * 3) % 32),
        Array.from({ length: 16 }, (_, i) => (i * 5 + 1) % 32),
      ],
      [2, 16],
      'int32',
    );
    const before = new Map([...model.weights].map(([name, variable]) => [name, variable.clone()]));
    try {
      const losses: number[] = [];
      let tensorsAfterFirstStep = 0;
      for (let step = 0; step < 50; step++) {
        const loss = optimizer.minimize(
          () => nextTokenLoss(model.forward(ids, { training: true }), ids),
          true,
          model.trainableVariables(),
        );
        losses.push((await loss!.data())[0]!);
        loss!.dispose();
        if (step === 0) tensorsAfterFirstStep = tf.memory().numTensors;
        else expect(tf.memory().numTensors).toBe(tensorsAfterFirstStep);
      }
      expect(losses[49]!).toBeLessThan(losses[0]! * 0.5);
      for (const [name, variable] of model.weights) {
        const moved = tf.tidy(() => tf.max(tf.abs(tf.sub(variable, before.get(name)!))).dataSync()[0]!);
        expect(moved, name).toBeGreaterThan(0);
      }
    } finally {
      optimizer.dispose();
      tf.dispose([ids, ...before.values()]);
      model.dispose();
    }
  });
});
