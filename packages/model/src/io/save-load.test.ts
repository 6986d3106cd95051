import { mkdtemp, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileFormatError, ShapeMismatchError, UnknownNameError } from '@fusechat/core';
import { openCheckpoint, writeSafetensors } from '@fusechat/safetensors';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModelConfigInput } from '../config/model-config.js';
import { applyLora } from '../lora/apply-lora.js';
import type { CausalLM } from '../model/causal-lm.js';
import { createModel } from '../model/create-model.js';
import { relativeError } from '../testing/reference-llama.js';
import { useBackend } from '../testing/test-backends.js';
import { loadModel } from './load-model.js';
import { saveModel } from './save-model.js';

let root: string;
beforeAll(async () => {
  await useBackend('cpu');
  root = await mkdtemp(join(tmpdir(), 'fusechat-model-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const base = {
  vocabSize: 50,
  hiddenSize: 16,
  intermediateSize: 40,
  numHiddenLayers: 2,
  numAttentionHeads: 4,
  initializerRange: 0.2,
};
const cases: [string, ModelConfigInput][] = [
  ['llama untied GQA', { ...base, modelType: 'llama', numKeyValueHeads: 2, bosTokenId: 1, eosTokenId: 2 }],
  [
    'llama tied with biases',
    { ...base, modelType: 'llama', tieWordEmbeddings: true, attentionBias: true, mlpBias: true },
  ],
  ['mistral sliding window', { ...base, modelType: 'mistral', numKeyValueHeads: 1, slidingWindow: 4 }],
  [
    'qwen2 tied',
    { ...base, modelType: 'qwen2', numKeyValueHeads: 2, tieWordEmbeddings: true, eosTokenId: [3, 4] },
  ],
];

async function weightArrays(model: CausalLM): Promise<Map<string, Float32Array>> {
  const result = new Map<string, Float32Array>();
  for (const [name, variable] of model.weights) result.set(name, (await variable.data()) as Float32Array);
  return result;
}

/** bf16 round-to-nearest-even of a float32, written independently of the library. */
function roundToBfloat16(value: number): number {
  const bits = new Uint32Array(new Float32Array([value]).buffer)[0]!;
  const rounded = (bits + 0x7fff + ((bits >>> 16) & 1)) & 0xffff0000;
  return new Float32Array(new Uint32Array([rounded >>> 0]).buffer)[0]!;
}

describe('saveModel → loadModel', () => {
  it.each(cases)('%s: F32 round trip is exact (weights, config, logits)', async (_, input) => {
    const dir = join(root, `f32-${input.modelType}-${Math.random().toString(36).slice(2)}`);
    const model = createModel(input, { seed: 3 });
    // Bias values that are not zero, so they are checked too.
    for (const [name, variable] of model.weights)
      if (name.endsWith('.bias')) variable.assign(tf.tidy(() => tf.add(variable, 0.25)));
    await saveModel(model, dir);
    const loaded = await loadModel(dir);
    try {
      const files = await readdir(dir);
      expect(files).toContain('model.safetensors');
      expect(files).toContain('config.json');
      const hf = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'));
      expect(hf.model_type).toBe(input.modelType);
      expect(hf.torch_dtype).toBe('float32');
      for (const key of [
        'architectures',
        'hidden_size',
        'intermediate_size',
        'num_hidden_layers',
        'num_attention_heads',
        'num_key_value_heads',
        'vocab_size',
        'max_position_embeddings',
        'rope_theta',
        'rms_norm_eps',
        'tie_word_embeddings',
        'hidden_act',
      ]) {
        expect(hf, key).toHaveProperty(key);
      }
      const checkpoint = await openCheckpoint(dir);
      const names = [...checkpoint.tensors.keys()];
      await checkpoint.close();
      expect(names.includes('lm_head.weight')).toBe(!model.config.tieWordEmbeddings);
      expect(new Set(names)).toEqual(new Set(model.weights.keys()));

      expect({ ...loaded.config, raw: undefined }).toEqual({ ...model.config, raw: undefined });
      const before = await weightArrays(model);
      const after = await weightArrays(loaded);
      for (const [name, values] of before) expect(after.get(name), name).toEqual(values);
      const ids = [[1, 2, 3, 4, 5]];
      const a = await model.logits(ids, undefined, { output: 'array' });
      const b = await loaded.logits(ids, undefined, { output: 'array' });
      expect(b).toEqual(a);
    } finally {
      model.dispose();
      loaded.dispose();
    }
  });

  it('BF16 and F16: within the dtype rounding, sharded checkpoints and tokenizer files', async () => {
    const source = join(root, 'with-tokenizer');
    const model = createModel(cases[0]![1], { seed: 5 });
    await saveModel(model, source);
    await writeFile(join(source, 'tokenizer.json'), '{"model":{}}');
    await writeFile(join(source, 'tokenizer_config.json'), '{"chat_template":"x"}');
    const fromDisk = await loadModel(source);
    const dir = join(root, 'bf16');
    await saveModel(fromDisk, dir, { dtype: 'BF16', maxShardBytes: 4000 });
    const loaded = await loadModel(dir);
    const f16Dir = join(root, 'f16');
    await saveModel(fromDisk, f16Dir, { dtype: 'F16' });
    const f16 = await loadModel(f16Dir);
    try {
      const files = await readdir(dir);
      expect(files).toContain('model.safetensors.index.json');
      expect(files.filter((file) => /^model-\d{5}-of-\d{5}\.safetensors$/.test(file)).length).toBeGreaterThan(
        1,
      );
      expect(files).toContain('tokenizer.json');
      expect(files).toContain('tokenizer_config.json');
      expect(JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')).torch_dtype).toBe('bfloat16');
      const original = await weightArrays(model);
      const rounded = await weightArrays(loaded);
      for (const [name, values] of original) {
        expect(Array.from(rounded.get(name)!), name).toEqual(Array.from(values, roundToBfloat16));
      }
      const halves = await weightArrays(f16);
      for (const [name, values] of original) {
        const half = halves.get(name)!;
        for (let i = 0; i < values.length; i++) {
          expect(Math.abs(half[i]! - values[i]!)).toBeLessThanOrEqual(Math.abs(values[i]!) * 2 ** -11 + 1e-7);
        }
      }
    } finally {
      model.dispose();
      fromDisk.dispose();
      loaded.dispose();
      f16.dispose();
    }
  });

  it('merges LoRA adapters into the saved weights without changing the model', async () => {
    const model = createModel(cases[0]![1], { seed: 6 });
    const [adapter] = applyLora(model, { rank: 2, alpha: 4, targetModules: ['q_proj'], seed: 1 });
    adapter!.b.assign(tf.tidy(() => tf.add(adapter!.b, 0.1)));
    const ids = [[3, 1, 4, 1, 5]];
    const adapted = await model.logits(ids, undefined, { output: 'array' });
    const dir = join(root, 'lora');
    await saveModel(model, dir);
    const loaded = await loadModel(dir);
    try {
      expect(model.adapters.size).toBe(2);
      expect(loaded.adapters.size).toBe(0);
      expect(relativeError(await loaded.logits(ids, undefined, { output: 'array' }), adapted)).toBeLessThan(
        1e-6,
      );
    } finally {
      model.dispose();
      loaded.dispose();
    }
  });
});

describe('loadModel rejects bad checkpoints before reading weights', () => {
  let good: string;
  let model: CausalLM;
  beforeAll(async () => {
    good = join(root, 'good');
    model = createModel(cases[0]![1], { seed: 7 });
    await saveModel(model, good);
  });
  afterAll(() => model.dispose());

  async function variant(
    name: string,
    edit: (
      tensors: Record<string, { dtype: 'F32' | 'I32'; shape: number[]; data: Float32Array | Int32Array }>,
      config: Record<string, unknown>,
    ) => void,
  ) {
    const dir = join(root, name);
    const tensors: Record<
      string,
      { dtype: 'F32' | 'I32'; shape: number[]; data: Float32Array | Int32Array }
    > = {};
    for (const [tensorName, variable] of model.weights) {
      tensors[tensorName] = {
        dtype: 'F32',
        shape: [...variable.shape],
        data: (await variable.data()) as Float32Array,
      };
    }
    const config = JSON.parse(await readFile(join(good, 'config.json'), 'utf8'));
    edit(tensors, config);
    const { mkdir } = await import('node:fs/promises');
    await mkdir(dir, { recursive: true });
    await writeSafetensors(join(dir, 'model.safetensors'), tensors, { metadata: { format: 'pt' } });
    await writeFile(join(dir, 'config.json'), JSON.stringify(config));
    return dir;
  }

  it('unknown model_type: UnknownNameError listing the known architectures', async () => {
    const dir = await variant('gpt2', (_, config) => {
      config.model_type = 'gpt2';
    });
    const error = await loadModel(dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnknownNameError);
    expect((error as UnknownNameError).code).toBe('MODEL_UNKNOWN_ARCHITECTURE');
    expect((error as Error).message).toMatch(/gpt2.*Known: llama, mistral, qwen2/);
  });

  it('a NaN or Inf weight is refused naming the tensor and element', async () => {
    for (const [name, bad] of [
      ['nan-weight', Number.NaN],
      ['inf-weight', Number.POSITIVE_INFINITY],
    ] as const) {
      const dir = await variant(name, (tensors) => {
        const data = Float32Array.from(tensors['model.layers.1.self_attn.o_proj.weight']!.data);
        data[5] = bad;
        tensors['model.layers.1.self_attn.o_proj.weight']!.data = data;
      });
      const error = await loadModel(dir).catch((e: unknown) => e);
      expect(error).toMatchObject({
        code: 'MODEL_NON_FINITE_WEIGHTS',
        tensorName: 'model.layers.1.self_attn.o_proj.weight',
        details: { index: 5 },
      });
      expect((error as Error).message).toContain(String(bad));
    }
  });

  it('a config size no checkpoint could confirm is refused before anything is allocated', async () => {
    const dir = await variant('absurd-layers', (_, config) => {
      config.num_hidden_layers = 2_000_000_000;
    });
    await expect(loadModel(dir)).rejects.toMatchObject({
      code: 'MODEL_INVALID_CONFIG',
      field: 'num_hidden_layers',
    });
    const eps = await variant('negative-eps', (_, config) => {
      config.rms_norm_eps = -1e-5;
    });
    await expect(loadModel(eps)).rejects.toMatchObject({
      code: 'MODEL_INVALID_CONFIG',
      field: 'rms_norm_eps',
    });
  });

  it('a missing tensor is named with its expected shape', async () => {
    const dir = await variant('missing', (tensors) => {
      delete tensors['model.layers.1.mlp.up_proj.weight'];
    });
    const error = await loadModel(dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FileFormatError);
    expect(error).toMatchObject({
      code: 'MODEL_MISSING_TENSOR',
      tensorName: 'model.layers.1.mlp.up_proj.weight',
    });
    expect((error as Error).message).toContain('[40, 16]');
  });

  it('a mis-shaped tensor is named with both shapes', async () => {
    const dir = await variant('misshaped', (tensors) => {
      tensors['model.layers.0.self_attn.k_proj.weight'] = {
        dtype: 'F32',
        shape: [16, 16],
        data: new Float32Array(256),
      };
    });
    const error = await loadModel(dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ShapeMismatchError);
    expect(error).toMatchObject({
      code: 'MODEL_TENSOR_SHAPE_MISMATCH',
      tensorName: 'model.layers.0.self_attn.k_proj.weight',
      expectedShape: [8, 16],
      actualShape: [16, 16],
    });
    expect((error as Error).message).toMatch(/\[16, 16\].*\[8, 16\]/);
  });

  it('config and weights that disagree (fewer layers in config.json, wrong vocab)', async () => {
    const fewer = await variant('fewer-layers', (_, config) => {
      config.num_hidden_layers = 1;
    });
    await expect(loadModel(fewer)).rejects.toMatchObject({ code: 'MODEL_UNEXPECTED_TENSOR' });
    const relaxed = await loadModel(fewer, { strict: false });
    expect(relaxed.config.numHiddenLayers).toBe(1);
    relaxed.dispose();
    const vocab = await variant('vocab', (_, config) => {
      config.vocab_size = 64;
    });
    await expect(loadModel(vocab)).rejects.toMatchObject({
      code: 'MODEL_TENSOR_SHAPE_MISMATCH',
      tensorName: 'model.embed_tokens.weight',
      expectedShape: [64, 16],
      actualShape: [50, 16],
    });
  });

  it('an integer tensor, bad config values and unsupported rope scaling', async () => {
    const integer = await variant('integer', (tensors) => {
      tensors['model.norm.weight'] = { dtype: 'I32', shape: [16], data: new Int32Array(16) };
    });
    await expect(loadModel(integer)).rejects.toMatchObject({
      code: 'MODEL_UNSUPPORTED_DTYPE',
      tensorName: 'model.norm.weight',
    });
    const heads = await variant('heads', (_, config) => {
      config.num_key_value_heads = 3;
    });
    await expect(loadModel(heads)).rejects.toMatchObject({
      code: 'MODEL_INVALID_CONFIG',
      field: 'num_key_value_heads',
    });
    const yarn = await variant('yarn', (_, config) => {
      config.rope_scaling = { rope_type: 'yarn', factor: 4 };
    });
    await expect(loadModel(yarn)).rejects.toMatchObject({ code: 'MODEL_UNSUPPORTED_ROPE_SCALING' });
    await expect(loadModel(join(root, 'does-not-exist'))).rejects.toMatchObject({
      code: 'MODEL_CONFIG_NOT_FOUND',
    });
  });

  it('a truncated shard fails with the safetensors error, before any compute', async () => {
    const dir = join(root, 'truncated');
    await saveModel(model, dir, { maxShardBytes: 3000 });
    const shards = (await readdir(dir)).filter((file) => file.endsWith('.safetensors')).sort();
    await truncate(join(dir, shards[1]!), 100);
    const error = await loadModel(dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FileFormatError);
    expect((error as FileFormatError).code).toMatch(/^SAFETENSORS_/);
    expect((error as FileFormatError).path).toContain(shards[1]!);
  });

  it('a shard missing only its last bytes fails before any tensor is read', async () => {
    const dir = join(root, 'truncated-body');
    await saveModel(model, dir, { maxShardBytes: 3000 });
    const shards = (await readdir(dir)).filter((file) => file.endsWith('.safetensors')).sort();
    const last = join(dir, shards.at(-1)!);
    await truncate(last, (await readFile(last)).length - 4);
    let tensorsRead = 0;
    const error = await loadModel(dir, { onProgress: () => tensorsRead++ }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'SAFETENSORS_TRUNCATED' });
    expect((error as FileFormatError).path).toContain(shards.at(-1)!);
    expect(tensorsRead).toBe(0);
  });
});
