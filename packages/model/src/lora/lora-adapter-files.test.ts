import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSafetensors } from '@fusechat/safetensors';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createModel } from '../model/create-model.js';
import { relativeError } from '../testing/reference-llama.js';
import { useBackend } from '../testing/test-backends.js';
import { applyLora } from './apply-lora.js';
import { loadLoraAdapter } from './load-lora-adapter.js';
import { saveLoraAdapter } from './save-lora-adapter.js';

let root: string;
beforeAll(async () => {
  await useBackend('cpu');
  root = await mkdtemp(join(tmpdir(), 'fusechat-lora-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const config = {
  modelType: 'qwen2',
  vocabSize: 40,
  hiddenSize: 16,
  intermediateSize: 24,
  numHiddenLayers: 2,
  numAttentionHeads: 4,
  numKeyValueHeads: 2,
} as const;

describe('PEFT adapter files', () => {
  it('save → load on a fresh base reproduces the adapted logits', async () => {
    const model = createModel(config, { seed: 4 });
    const adapters = applyLora(model, { rank: 2, alpha: 8, targetModules: ['q_proj', 'down_proj'], seed: 2 });
    for (const adapter of adapters)
      adapter.b.assign(tf.tidy(() => tf.randomNormal(adapter.b.shape, 0, 0.2, 'float32', 5)));
    const ids = [[1, 2, 3, 4, 5]];
    const adapted = await model.logits(ids, undefined, { output: 'array' });
    const dir = join(root, 'adapter');
    await saveLoraAdapter(model, dir, { baseModel: 'tiny-qwen2' });
    const hfConfig = JSON.parse(await readFile(join(dir, 'adapter_config.json'), 'utf8'));
    expect(hfConfig).toMatchObject({
      peft_type: 'LORA',
      r: 2,
      lora_alpha: 8,
      target_modules: ['q_proj', 'down_proj'],
      base_model_name_or_path: 'tiny-qwen2',
    });
    const file = await openSafetensors(join(dir, 'adapter_model.safetensors'));
    expect(file.tensors.get('base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight')?.shape).toEqual(
      [2, 16],
    );
    expect(file.tensors.get('base_model.model.model.layers.1.mlp.down_proj.lora_B.weight')?.shape).toEqual([
      16, 2,
    ]);
    await file.close();

    const fresh = createModel(config, { seed: 4 });
    try {
      const before = tf.memory().numTensors;
      await loadLoraAdapter(fresh, dir);
      expect(tf.memory().numTensors).toBe(before + 8);
      expect(relativeError(await fresh.logits(ids, undefined, { output: 'array' }), adapted)).toBeLessThan(
        1e-6,
      );
    } finally {
      model.dispose();
      fresh.dispose();
    }
  });

  it('rejects an adapter whose shapes do not fit the model, leaving the model unchanged', async () => {
    const small = createModel(config, { seed: 1 });
    applyLora(small, { rank: 2, targetModules: ['q_proj'] });
    const dir = join(root, 'small-adapter');
    await saveLoraAdapter(small, dir);
    small.dispose();
    const wider = createModel({ ...config, hiddenSize: 32 }, { seed: 1 });
    try {
      await expect(loadLoraAdapter(wider, dir)).rejects.toMatchObject({ code: 'LORA_SHAPE_MISMATCH' });
      expect(wider.adapters.size).toBe(0);
      expect(wider.trainableVariables().length).toBe(wider.weights.size);
    } finally {
      wider.dispose();
    }
  });
});
