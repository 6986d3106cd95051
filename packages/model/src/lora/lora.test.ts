import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { createModel } from '../model/create-model.js';
import { referenceLogits, relativeError } from '../testing/reference-llama.js';
import { TEST_BACKENDS, useBackend, weightsAsFloat64 } from '../testing/test-backends.js';
import { applyLora } from './apply-lora.js';
import { mergeLora } from './merge-lora.js';

const config = {
  modelType: 'llama',
  vocabSize: 30,
  hiddenSize: 16,
  intermediateSize: 32,
  numHiddenLayers: 2,
  numAttentionHeads: 4,
  numKeyValueHeads: 2,
  initializerRange: 0.3,
} as const;
const ids = [[1, 2, 3, 4, 5, 6]];

describe.each(TEST_BACKENDS)('LoRA (%s)', (backend) => {
  it('trains only A/B, equals the float64 model with W + (alpha/r)·B·A, and merges without changing logits', async () => {
    await useBackend(backend);
    const model = createModel(config, { seed: 1 });
    try {
      const initial = await model.logits(ids, undefined, { output: 'array' });
      const adapters = applyLora(model, {
        rank: 2,
        alpha: 6,
        targetModules: ['q_proj', 'v_proj', 'down_proj'],
        seed: 3,
      });
      expect(adapters.map((adapter) => adapter.module)).toContain('model.layers.1.self_attn.v_proj');
      expect(adapters).toHaveLength(6);
      expect(model.trainableVariables()).toHaveLength(12);
      expect([...model.namedTrainableVariables().keys()][0]).toBe(
        'model.layers.0.self_attn.q_proj.lora_A.weight',
      );
      // B = 0: nothing changes yet.
      expect(relativeError(await model.logits(ids, undefined, { output: 'array' }), initial)).toBeLessThan(
        1e-6,
      );

      const optimizer = tf.train.sgd(0.5);
      const frozen = model.weights.get('model.layers.0.self_attn.q_proj.weight')!.clone();
      for (let step = 0; step < 3; step++) {
        optimizer.minimize(
          () => tf.mean(tf.square(model.forward(ids))) as tf.Scalar,
          false,
          model.trainableVariables(),
        );
      }
      optimizer.dispose();
      expect(
        tf
          .max(tf.abs(tf.sub(frozen, model.weights.get('model.layers.0.self_attn.q_proj.weight')!)))
          .dataSync()[0],
      ).toBe(0);
      frozen.dispose();

      const reference = await weightsAsFloat64(model.weights);
      for (const adapter of adapters) {
        const a = await adapter.a.data();
        const b = await adapter.b.data();
        expect(b.some((value) => value !== 0)).toBe(true);
        const weight = reference.get(`${adapter.module}.weight`)!;
        const [out, inFeatures] = [adapter.b.shape[0]!, adapter.a.shape[1]!];
        for (let o = 0; o < out; o++)
          for (let i = 0; i < inFeatures; i++)
            for (let r = 0; r < 2; r++)
              weight[o * inFeatures + i]! += 3 * b[o * 2 + r]! * a[r * inFeatures + i]!;
      }
      const expected = referenceLogits(model.config, reference, ids);
      const adapted = await model.logits(ids, undefined, { output: 'array' });
      expect(relativeError(adapted, expected)).toBeLessThan(1e-4);
      expect(relativeError(adapted, initial)).toBeGreaterThan(1e-3);

      const before = tf.memory().numTensors;
      mergeLora(model);
      expect(tf.memory().numTensors).toBe(before - 12);
      expect(model.adapters.size).toBe(0);
      expect(model.trainableVariables().length).toBe(model.weights.size);
      expect(relativeError(await model.logits(ids, undefined, { output: 'array' }), expected)).toBeLessThan(
        1e-4,
      );
    } finally {
      model.dispose();
    }
  });
});

describe('applyLora validation', () => {
  it('rejects unknown modules (listing the known ones), a bad rank, and applying twice', async () => {
    await useBackend('cpu');
    const model = createModel(config);
    try {
      expect(() => applyLora(model, { rank: 2, targetModules: ['c_attn'] })).toThrow(
        /c_attn.*Known: q_proj, k_proj, v_proj, o_proj, gate_proj/,
      );
      expect(() => applyLora(model, { rank: 0, targetModules: ['q_proj'] })).toThrow(/rank/);
      applyLora(model, { rank: 2, targetModules: ['q_proj'] });
      expect(() => applyLora(model, { rank: 2, targetModules: ['q_proj'] })).toThrow(/mergeLora/);
    } finally {
      model.dispose();
    }
  });
});
