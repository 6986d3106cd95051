import { clmLoss } from '@fusechat/distillation-loss';
import * as tf from '@tensorflow/tfjs-core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { learningRateAt } from '../schedules/learning-rate-at.js';
import { createArrayDataset } from '../testing/array-dataset.js';
import {
  createReferenceAdamW,
  referenceLearningRate,
  worstRelativeError,
} from '../testing/reference-training.js';
import { TEST_BACKENDS, useBackend } from '../testing/test-backends.js';
import { tinyExamples, tinyModel } from '../testing/tiny-model.js';
import { createAdamW } from './create-adamw.js';
import { isDecayParameter } from './is-decay-parameter.js';

async function asFloat64(tensors: ReadonlyMap<string, tf.Tensor>): Promise<Map<string, Float64Array>> {
  const out = new Map<string, Float64Array>();
  for (const [name, tensor] of tensors) out.set(name, Float64Array.from(await tensor.data()));
  return out;
}

describe('isDecayParameter (HF get_decay_parameter_names)', () => {
  it('leaves out biases and norm weights, decays projections, embeddings, lm_head and LoRA', () => {
    for (const name of [
      'model.layers.0.self_attn.q_proj.weight',
      'model.embed_tokens.weight',
      'lm_head.weight',
      'model.layers.3.mlp.down_proj.lora_A.weight',
    ])
      expect(isDecayParameter(name), name).toBe(true);
    for (const name of [
      'model.layers.0.self_attn.q_proj.bias',
      'model.layers.0.input_layernorm.weight',
      'model.layers.0.post_attention_layernorm.weight',
      'model.norm.weight',
      'model.layers.0.self_attn.q_norm.weight',
      'model.layers.0.self_attn.k_norm.weight',
    ])
      expect(isDecayParameter(name), name).toBe(false);
  });
});

for (const backend of TEST_BACKENDS) {
  describe(`createAdamW on ${backend}`, () => {
    beforeEach(async () => {
      await useBackend(backend);
    });
    afterEach(() => {
      tf.disposeVariables();
    });

    it('follows a float64 transcription of torch AdamW + the HF cosine schedule over 6 steps of real gradients', async () => {
      const model = tinyModel(3);
      const variables = model.namedTrainableVariables();
      const options = { beta1: 0.8, beta2: 0.95, epsilon: 1e-6, weightDecay: 0.1 };
      const optimizer = createAdamW(variables, options);
      const decayed = new Set([...variables.keys()].filter(isDecayParameter));
      expect(optimizer.decayed).toEqual(decayed);
      expect(decayed.size).toBeLessThan(variables.size); // the model has biases and norms
      const reference = createReferenceAdamW({ ...options, decayed });
      const dataset = createArrayDataset(tinyExamples(12), { batchSize: 2 });
      const tensorsBefore: number[] = [];
      const steps = 6;
      for (let step = 0; step < steps; step++) {
        const batch = await dataset.batch(0, step, 5);
        const ids = tf.tensor2d(batch.inputIds as number[][], undefined, 'int32');
        const { value, grads } = tf.variableGrads(
          () =>
            clmLoss(model.forward(ids, { attentionMask: batch.attentionMask }), batch.labels as number[][]),
          [...variables.values()],
        );
        const gradients = new Map([...variables].map(([name, variable]) => [name, grads[variable.name]!]));
        const before = await asFloat64(variables);
        const lr = learningRateAt(step, {
          schedule: 'cosine',
          peak: 2e-2,
          warmupSteps: 2,
          totalSteps: steps,
        });
        expect(lr).toBe(referenceLearningRate('cosine', step, 2e-2, 2, steps));
        tensorsBefore.push(tf.memory().numTensors);
        optimizer.step(gradients, lr);
        const expected = reference.step(before, await asFloat64(gradients), lr);
        tf.dispose([ids, value, ...Object.values(grads)]);

        const actual = await asFloat64(variables);
        // Parameters: float32 rounding of values ~0.2 plus the update's own rounding.
        const parameters = worstRelativeError(actual, expected, 1e-7, 2e-6);
        expect(parameters.ratio, `step ${step}: ${parameters.name}[${parameters.index}]`).toBeLessThanOrEqual(
          1,
        );
        // The update itself (θ_after − θ_before) to 1e-3 relative, or 1e-4 of lr (an Adam step is at most
        // ~lr per entry; entries where m cancels to ~0 have no relative precision): catches a wrong
        // bias correction or ε placement.
        const delta = (map: Map<string, Float64Array>) =>
          new Map([...map].map(([name, values]) => [name, values.map((x, i) => x - before.get(name)![i]!)]));
        const updates = worstRelativeError(delta(actual), delta(expected), 1e-4 * lr + 1e-9, 1e-3);
        expect(updates.ratio, `step ${step} update: ${updates.name}[${updates.index}]`).toBeLessThanOrEqual(
          1,
        );
        if (step >= 2)
          expect(
            Math.max(...[...delta(expected).values()].flatMap((d) => [...d].map(Math.abs))),
          ).toBeGreaterThan(1e-4);
        const state = await optimizer.exportState();
        expect(state.step).toBe(step + 1);
        expect(worstRelativeError(state.expAvg, reference.expAvg, 1e-8, 1e-5).ratio).toBeLessThanOrEqual(1);
        expect(worstRelativeError(state.expAvgSq, reference.expAvgSq, 1e-12, 1e-5).ratio).toBeLessThanOrEqual(
          1,
        );
      }
      // No tensor is left behind by a step.
      expect(new Set(tensorsBefore.slice(1)).size).toBe(1);
      optimizer.dispose();
      model.dispose();
    });

    it('applies decoupled decay (θ·(1 − lr·wd)) to decayed parameters only', async () => {
      const model = tinyModel(4);
      const variables = model.namedTrainableVariables();
      const optimizer = createAdamW(variables, { weightDecay: 0.5 });
      const before = await asFloat64(variables);
      const zeros = new Map([...variables].map(([name, variable]) => [name, tf.zerosLike(variable)]));
      optimizer.step(zeros, 0.1);
      tf.dispose([...zeros.values()]);
      for (const [name, values] of await asFloat64(variables)) {
        const factor = isDecayParameter(name) ? Math.fround(0.95) : 1;
        expect(Array.from(values), name).toEqual(
          Array.from(before.get(name)!, (x) => Math.fround(x * factor)),
        );
      }
      optimizer.dispose();
      model.dispose();
    });

    it('exports and restores its state; refuses state of other parameters', async () => {
      const model = tinyModel(5);
      const variables = model.namedTrainableVariables();
      const optimizer = createAdamW(variables);
      const ones = new Map([...variables].map(([name, variable]) => [name, tf.onesLike(variable)]));
      optimizer.step(ones, 0.01);
      const state = await optimizer.exportState();
      const other = createAdamW(variables);
      other.loadState(state);
      expect(other.stepCount).toBe(1);
      expect(await other.exportState()).toEqual(state);
      const [firstName] = variables.keys();
      const broken = { ...state, expAvg: new Map([...state.expAvg].filter(([name]) => name !== firstName)) };
      expect(() => other.loadState(broken)).toThrow(
        expect.objectContaining({ code: 'TRAIN_RESUME_MISMATCH' }),
      );
      expect(() => optimizer.step(new Map(), 0.01)).toThrow(/no gradient/);
      tf.dispose([...ones.values()]);
      optimizer.dispose();
      other.dispose();
      model.dispose();
    });
  });
}
