import { describe, expect, it } from 'vitest';
import { defaultArchitectureRegistry } from '../architectures/architecture-registry.js';
import { rotaryInverseFrequencies } from '../ops/rotary.js';

const sizes = {
  vocab_size: 100,
  hidden_size: 64,
  intermediate_size: 128,
  num_hidden_layers: 4,
  num_attention_heads: 4,
};

describe('config.json parsing', () => {
  it('applies the transformers defaults of each architecture', () => {
    const llama = defaultArchitectureRegistry.get('llama').parseConfig({ model_type: 'llama', ...sizes });
    expect(llama).toMatchObject({
      numKeyValueHeads: 4,
      headDim: 16,
      ropeTheta: 10000,
      rmsNormEps: 1e-6,
      tieWordEmbeddings: false,
      qkvBias: false,
      maxPositionEmbeddings: 2048,
    });
    const mistral = defaultArchitectureRegistry
      .get('mistral')
      .parseConfig({ model_type: 'mistral', ...sizes });
    expect(mistral.layerSlidingWindows).toEqual([4096, 4096, 4096, 4096]);
    const noWindow = defaultArchitectureRegistry
      .get('mistral')
      .parseConfig({ model_type: 'mistral', ...sizes, sliding_window: null });
    expect(noWindow.layerSlidingWindows).toEqual([null, null, null, null]);
    const qwen = defaultArchitectureRegistry.get('qwen2').parseConfig({
      model_type: 'qwen2',
      ...sizes,
      use_sliding_window: true,
      sliding_window: 32,
      max_window_layers: 2,
    });
    expect(qwen).toMatchObject({
      qkvBias: true,
      outputBias: false,
      layerSlidingWindows: [null, null, 32, 32],
    });
    const qwenOff = defaultArchitectureRegistry
      .get('qwen2')
      .parseConfig({ model_type: 'qwen2', ...sizes, sliding_window: 32 });
    expect(qwenOff.layerSlidingWindows).toEqual([null, null, null, null]);
  });

  it('keeps unknown keys and writes HF keys back', () => {
    const architecture = defaultArchitectureRegistry.get('qwen2');
    const raw = {
      model_type: 'qwen2',
      ...sizes,
      num_key_value_heads: 2,
      custom_key: [1, 2],
      transformers_version: '4.44.0',
      use_sliding_window: false,
      sliding_window: 131072,
    };
    const hf = architecture.toHfConfig(architecture.parseConfig(raw));
    expect(hf).toMatchObject({
      ...raw,
      architectures: ['Qwen2ForCausalLM'],
      rope_theta: 10000,
      rms_norm_eps: 1e-6,
      tie_word_embeddings: false,
    });
    expect(hf).not.toHaveProperty('head_dim');
    expect(architecture.toHfConfig(architecture.parseConfig({ ...raw, head_dim: 32 }))).toHaveProperty(
      'head_dim',
      32,
    );
  });

  it('rejects bad values, naming the key', () => {
    const llama = defaultArchitectureRegistry.get('llama');
    expect(() => llama.parseConfig({ model_type: 'llama', ...sizes, hidden_size: 0 })).toThrow(/hidden_size/);
    expect(() => llama.parseConfig({ model_type: 'llama', ...sizes, vocab_size: undefined })).toThrow(
      /vocab_size.*missing/,
    );
    expect(() => llama.parseConfig({ model_type: 'llama', ...sizes, hidden_act: 'gelu' })).toThrow(
      /hidden_act/,
    );
    expect(() =>
      llama.parseConfig({ model_type: 'llama', ...sizes, rope_scaling: { type: 'dynamic', factor: 2 } }),
    ).toThrow(/dynamic.*not supported/);
    expect(() =>
      llama.parseConfig({ model_type: 'llama', ...sizes, rope_scaling: { rope_type: 'llama3', factor: 8 } }),
    ).toThrow(/low_freq_factor/);
  });
});

describe('rotary inverse frequencies', () => {
  const base = { headDim: 16, ropeTheta: 500000 };
  const plain = Array.from({ length: 8 }, (_, i) => 1 / 500000 ** ((2 * i) / 16));
  it('default and linear scaling', () => {
    const unscaled = rotaryInverseFrequencies({ ...base, ropeScaling: null });
    for (const [i, value] of unscaled.entries()) expect(value).toBeCloseTo(plain[i]!, 6);
    const linear = rotaryInverseFrequencies({ ...base, ropeScaling: { rope_type: 'linear', factor: 4 } });
    for (const [i, value] of linear.entries()) expect(value / (plain[i]! / 4)).toBeCloseTo(1, 5);
  });
  it('llama3 scaling follows transformers _compute_llama3_parameters', () => {
    const scaling = {
      rope_type: 'llama3',
      factor: 8,
      low_freq_factor: 1,
      high_freq_factor: 4,
      original_max_position_embeddings: 64,
    };
    const scaled = rotaryInverseFrequencies({ ...base, ropeScaling: scaling });
    plain.forEach((frequency, i) => {
      const wavelength = (2 * Math.PI) / frequency;
      let expected: number;
      if (wavelength < 64 / 4) expected = frequency;
      else if (wavelength > 64 / 1) expected = frequency / 8;
      else {
        const smooth = (64 / wavelength - 1) / (4 - 1);
        expected = (1 - smooth) * (frequency / 8) + smooth * frequency;
      }
      expect(scaled[i]! / expected).toBeCloseTo(1, 5);
    });
    // the three regimes all occur with these numbers
    expect(scaled[0]).toBeCloseTo(plain[0]!, 6);
    expect(scaled[7]! / plain[7]!).toBeCloseTo(1 / 8, 5);
  });
});

describe('config.json values are checked for their meaning', () => {
  const parse = (extra: Record<string, unknown>) =>
    defaultArchitectureRegistry.get('mistral').parseConfig({ model_type: 'mistral', ...sizes, ...extra });
  const refused = (extra: Record<string, unknown>, field: string) => {
    let error: unknown;
    try {
      parse(extra);
    } catch (caught) {
      error = caught;
    }
    expect(error, JSON.stringify(extra)).toMatchObject({ code: 'MODEL_INVALID_CONFIG', field });
    return (error as Error).message;
  };

  it('refuses an absurd size before allocating anything sized by it', () => {
    // Mistral builds one sliding-window entry per layer: 1e9 layers would need gigabytes.
    const before = process.memoryUsage().heapUsed;
    expect(refused({ num_hidden_layers: 1_000_000_000 }, 'num_hidden_layers')).toMatch(/above the largest/);
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(64 * 1024 * 1024);
    refused({ vocab_size: 2 ** 40 }, 'vocab_size');
    refused({ max_position_embeddings: 1e12 }, 'max_position_embeddings');
    refused({ hidden_size: 2 ** 31 }, 'hidden_size');
  });

  it('refuses impossible epsilons, bases and head layouts', () => {
    refused({ rms_norm_eps: -1e-6 }, 'rms_norm_eps');
    refused({ rms_norm_eps: 0 }, 'rms_norm_eps');
    refused({ rope_theta: 0 }, 'rope_theta');
    refused({ initializer_range: -0.02 }, 'initializer_range');
    refused({ num_attention_heads: 5 }, 'num_attention_heads'); // 64 / 5 is not whole
    refused({ num_key_value_heads: 8 }, 'num_key_value_heads'); // more kv heads than heads
    refused({ eos_token_id: 100 }, 'eos_token_id'); // vocab_size is 100
    refused({ eos_token_id: [2, 100] }, 'eos_token_id');
    refused({ bos_token_id: -1 }, 'bos_token_id');
    // head_dim given explicitly may differ from hidden / heads (as in Qwen3 and Gemma).
    expect(parse({ num_attention_heads: 5, num_key_value_heads: 1, head_dim: 16 }).headDim).toBe(16);
    expect(parse({ eos_token_id: [1, 99] }).eosTokenId).toEqual([1, 99]);
  });
});
