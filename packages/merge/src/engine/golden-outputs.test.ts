// Golden outputs: the SHA-256 of model.safetensors for every built-in method on a fixed fixture,
// recorded with the engine as it was before the I/O-floor work (commit e34e143, whole-tensor
// buffers). Any change to the read path, the kernels, chunking or the write path must leave these
// bytes unchanged. The fixture mixes F32/BF16/F16 inputs, tensors larger than the engine's chunk
// and tile sizes, tensors with many exact ties and zeros (quantised deltas), and a tiny tensor.
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mergeModels } from './merge-models.js';
import { type FixtureTensor, writeCheckpoint } from './test-checkpoints.js';

const SHAPES: Record<string, number[]> = {
  'model.embed_tokens.weight': [700, 512],
  'model.layers.0.self_attn.q_proj.weight': [257, 300],
  'model.layers.0.mlp.up_proj.weight': [1100, 300],
  'model.layers.0.input_layernorm.weight': [300],
  'model.layers.1.self_attn.q_proj.weight': [257, 300],
  'model.layers.1.mlp.up_proj.weight': [1100, 300],
  'model.layers.1.input_layernorm.weight': [300],
  'model.norm.weight': [3],
};

/** xorshift32 → uniform in [-0.5, 0.5). */
function uniform(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 4294967296 - 0.5;
  };
}

function model(seed: number, base?: Record<string, FixtureTensor>, dtype?: FixtureTensor['dtype']) {
  const tensors: Record<string, FixtureTensor> = {};
  Object.entries(SHAPES).forEach(([name, shape], index) => {
    const length = shape.reduce((a, b) => a * b, 1);
    const next = uniform(seed * 7919 + index * 104729);
    const from = base?.[name]?.values;
    // q_proj deltas are quantised to a coarse grid: many exact ties, zeros and equal magnitudes.
    const quantised = name.includes('q_proj');
    const values = new Float32Array(length);
    for (let i = 0; i < length; i++) {
      if (from === undefined) values[i] = 0.1 * next();
      else {
        const step = quantised ? Math.round(8 * next()) / 256 : 0.004 * seed * next();
        values[i] = from[i]! + step;
      }
      // The fixture's F16 encoder handles normal halves only: flush what would be subnormal.
      if (dtype === 'F16' && Math.abs(values[i]!) < 2 ** -13) values[i] = 0;
    }
    tensors[name] = { shape, values, ...(dtype ? { dtype } : {}) };
  });
  return tensors;
}

function sha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

const GOLDEN: Record<string, { config: Record<string, unknown>; sha256: string }> = {
  linear: {
    config: {
      merge_method: 'linear',
      models: [
        { model: 'pivot', parameters: { weight: 0.2 } },
        { model: 'target-1', parameters: { weight: 0.5 } },
        { model: 'target-2', parameters: { weight: 0.3 } },
      ],
    },
    sha256: '30b9510aa7009cb4d6d3973001608fe2c90258cdfe55e2e9d68034b72e776093',
  },
  task_arithmetic: {
    config: {
      merge_method: 'task_arithmetic',
      base_model: 'pivot',
      parameters: { weight: 0.7, lambda: 0.9 },
      models: [{ model: 'target-1' }, { model: 'target-2' }],
    },
    sha256: 'de5e9ea8b6ccca826ca3764e2215d4654a756b795834e467f47a52cc5aeadf58',
  },
  variation_ratio: {
    config: {
      merge_method: 'variation_ratio',
      base_model: 'pivot',
      models: [{ model: 'target-1' }, { model: 'target-2' }],
    },
    sha256: '52fc767b0147f5e23f00946daf40ec4edb374d44e0d8009ef36f3ba1b5f48b36',
  },
  variation_ratio_three: {
    config: {
      merge_method: 'variation_ratio',
      base_model: 'pivot',
      models: [{ model: 'target-1' }, { model: 'target-2' }, { model: 'target-3' }],
    },
    sha256: 'a31091e8be8d95e5cffdf576039a63c272a9a84b124a25469f6b0f809a89354f',
  },
  ties: {
    config: {
      merge_method: 'ties',
      base_model: 'pivot',
      parameters: { weight: 1, density: 0.5 },
      models: [{ model: 'target-1' }, { model: 'target-2' }],
    },
    sha256: 'c1c6aee6a0b918624dc82a34fc72d594d3ec7b5122a37207096639a0a3cb1fe7',
  },
  ties_weighted: {
    config: {
      merge_method: 'ties',
      base_model: 'pivot',
      parameters: { density: 0.3, lambda: 1.1 },
      models: [
        { model: 'target-1', parameters: { weight: 0.7 } },
        { model: 'target-2', parameters: { weight: 0.45, density: 0.6 } },
      ],
    },
    sha256: 'd4f43ea960296b08eaf722a3cbd59044ba3e3638af9c2ca7e7d8e0a837c0fb07',
  },
  ties_three: {
    config: {
      merge_method: 'ties',
      base_model: 'pivot',
      parameters: { weight: 1, density: 0.4 },
      models: [{ model: 'target-1' }, { model: 'target-2' }, { model: 'target-3' }],
    },
    sha256: 'ae3a5c2465784fd0684936ce72d6ee9b6e338bf05640ec7c10696cd006eeeeb6',
  },
  dare_ties: {
    config: {
      merge_method: 'dare_ties',
      base_model: 'pivot',
      seed: 7,
      parameters: { weight: 0.5, density: 0.6 },
      models: [{ model: 'target-1' }, { model: 'target-2' }],
    },
    sha256: '1fc1d0102315b45986fc26423fe06c35b06732691d34e6b33f60f688adc42d21',
  },
  dare_linear: {
    config: {
      merge_method: 'dare_linear',
      base_model: 'pivot',
      seed: 3,
      parameters: { weight: 0.5, density: 0.6 },
      models: [{ model: 'target-1' }, { model: 'target-2' }],
    },
    sha256: '0718b1d0d4051ac8b834da9db3e5613a1ff9976ffe6bb8be77c3ae570e1f9e64',
  },
  sce: {
    config: {
      merge_method: 'sce',
      base_model: 'pivot',
      parameters: { select_topk: 0.1 },
      models: [{ model: 'target-1' }, { model: 'target-2' }],
    },
    sha256: '76e928f733d92d09cf058efc7d54571022b0dfd3870cd634348643fe911e7b4e',
  },
  sce_fusechat: {
    config: {
      merge_method: 'sce',
      base_model: 'pivot',
      parameters: { select_topk: 0.3, sce_variant: 'fusechat' },
      models: [{ model: 'target-1' }, { model: 'target-2' }],
    },
    sha256: 'a15a54fd201031ac32f9f941c280a87ed689d150e8890581bd3f95e90fad1866',
  },
  sce_three: {
    config: {
      merge_method: 'sce',
      base_model: 'pivot',
      parameters: { select_topk: 0.2 },
      models: [{ model: 'target-1' }, { model: 'target-2' }, { model: 'target-3' }],
    },
    sha256: '080f9760972d7b7ddadbc433eb54378f8d4c6725d0941f0ed6deba77d35fb120',
  },
  slerp: {
    config: {
      merge_method: 'slerp',
      base_model: 'target-1',
      parameters: { t: 0.3 },
      models: [{ model: 'target-1' }, { model: 'target-2' }],
    },
    sha256: 'cb4ba258c93cb3e12e505f2e48e05410dbd2e68c6edb3168e3a39f4c69d1f1e5',
  },
  variation_ratio_bf16_out: {
    config: {
      merge_method: 'variation_ratio',
      base_model: 'pivot',
      dtype: 'bfloat16',
      models: [{ model: 'target-1' }, { model: 'target-2' }],
    },
    sha256: '46968b9150e86d8f5770735e154014e18627fa9f766f2f94c6bb9f0ac87a5154',
  },
};

describe('golden merge outputs (bit-identical to the engine before the I/O-floor work)', () => {
  let root: string;
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'fusechat-merge-golden-'));
    const pivot = model(1);
    writeCheckpoint(join(root, 'pivot'), pivot, {}, {});
    writeCheckpoint(join(root, 'target-1'), model(2, pivot), {}, { shards: true });
    writeCheckpoint(join(root, 'target-2'), model(3, pivot, 'BF16'), {}, {});
    writeCheckpoint(join(root, 'target-3'), model(4, pivot, 'F16'), {}, {});
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  for (const [name, golden] of Object.entries(GOLDEN)) {
    it(`${name}`, async () => {
      const out = join(root, `out-${name}`);
      await mergeModels(golden.config, { out, cwd: root });
      const hash = sha256(join(out, 'model.safetensors'));
      if (process.env.FUSECHAT_RECORD_GOLDEN) console.log(`GOLDEN ${name} ${hash}`);
      else expect(hash).toBe(golden.sha256);
    });
  }
});
