// Golden outputs: the SHA-256 of model.safetensors for every built-in method on a fixed fixture,
// recorded with the engine as it was before the I/O-floor work (commit e34e143, whole-tensor
// buffers). Any change to the read path, the kernels, chunking or the write path must leave these
// bytes unchanged. The fixture mixes F32/BF16/F16 inputs, tensors larger than the engine's read
// pieces and the kernels' blocks, tensors with many exact ties and zeros (quantised deltas), and a
// tiny tensor. Hashes recorded with FUSECHAT_RECORD_GOLDEN=1 on the sources of e34e143.
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
  // More than one 8 MiB read piece in F32 (3 pieces), BF16 and F16 (2 pieces each).
  'model.layers.1.mlp.down_proj.weight': [4200, 1000],
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
    sha256: 'e0d36188b360f041ffef59c38e38bf576d5dc589376711351e18a087a31fbd99',
  },
  task_arithmetic: {
    config: {
      merge_method: 'task_arithmetic',
      base_model: 'pivot',
      parameters: { weight: 0.7, lambda: 0.9 },
      models: [{ model: 'target-1' }, { model: 'target-2' }],
    },
    sha256: '410e80ed8b348dc12c2f8c4d704e12bcc6228395648466ed872cef381a149bb3',
  },
  variation_ratio: {
    config: {
      merge_method: 'variation_ratio',
      base_model: 'pivot',
      models: [{ model: 'target-1' }, { model: 'target-2' }],
    },
    sha256: 'dc442eea7e4cc1451822460b4f2134d156b5c7840844a0e88a4801ee9ba0b2b2',
  },
  variation_ratio_three: {
    config: {
      merge_method: 'variation_ratio',
      base_model: 'pivot',
      models: [{ model: 'target-1' }, { model: 'target-2' }, { model: 'target-3' }],
    },
    sha256: '06a3420df77ba078f34eeaf048ad5f1043d651f2b5398e1e18dff6150cf86f2f',
  },
  ties: {
    config: {
      merge_method: 'ties',
      base_model: 'pivot',
      parameters: { weight: 1, density: 0.5 },
      models: [{ model: 'target-1' }, { model: 'target-2' }],
    },
    sha256: '66b1c9625d766dd6e2de6cead74ce39e3e993287fb4aa124a37a3348bc05c386',
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
    sha256: '8ac37d1cc6e3272e71e16ca869f295bf32f4b0690c1b029f31a1fd12b5093272',
  },
  ties_three: {
    config: {
      merge_method: 'ties',
      base_model: 'pivot',
      parameters: { weight: 1, density: 0.4 },
      models: [{ model: 'target-1' }, { model: 'target-2' }, { model: 'target-3' }],
    },
    sha256: '9a6015f1952480267c95288fca72e2d12652e17e2bd5bc558773192716423b2b',
  },
  dare_ties: {
    config: {
      merge_method: 'dare_ties',
      base_model: 'pivot',
      seed: 7,
      parameters: { weight: 0.5, density: 0.6 },
      models: [{ model: 'target-1' }, { model: 'target-2' }],
    },
    sha256: '98261d80d110d8c99e415564aa8e68ce52790b72eeee38df56af04658b275eb8',
  },
  dare_linear: {
    config: {
      merge_method: 'dare_linear',
      base_model: 'pivot',
      seed: 3,
      parameters: { weight: 0.5, density: 0.6 },
      models: [{ model: 'target-1' }, { model: 'target-2' }],
    },
    sha256: 'd0ea2aeb6ff730aafca6f5ff5a9ef8c506d209fd0a36036e9b07213abcfbce10',
  },
  sce: {
    config: {
      merge_method: 'sce',
      base_model: 'pivot',
      parameters: { select_topk: 0.1 },
      models: [{ model: 'target-1' }, { model: 'target-2' }],
    },
    sha256: '3ecef3169720fde459146bbdd51197e5e61d3008639db0c72bee2a998783d329',
  },
  sce_fusechat: {
    config: {
      merge_method: 'sce',
      base_model: 'pivot',
      parameters: { select_topk: 0.3, sce_variant: 'fusechat' },
      models: [{ model: 'target-1' }, { model: 'target-2' }],
    },
    sha256: 'dc68d0959c123dd96e6ba7a5601d2a26a34e60a58c353c3210a0b996ae6d4b28',
  },
  sce_three: {
    config: {
      merge_method: 'sce',
      base_model: 'pivot',
      parameters: { select_topk: 0.2 },
      models: [{ model: 'target-1' }, { model: 'target-2' }, { model: 'target-3' }],
    },
    sha256: '63e8e1f67d48de89ef7d03cafa92985a1bbaa6f56c3fbf7e444656bdbdb87f78',
  },
  slerp: {
    config: {
      merge_method: 'slerp',
      base_model: 'target-1',
      parameters: { t: 0.3 },
      models: [{ model: 'target-1' }, { model: 'target-2' }],
    },
    sha256: '484e4a000f4fceef7df382dd5fcb4bdaac7c0291e7150f5f4eac0b3c76ba98de',
  },
  variation_ratio_bf16_out: {
    config: {
      merge_method: 'variation_ratio',
      base_model: 'pivot',
      dtype: 'bfloat16',
      models: [{ model: 'target-1' }, { model: 'target-2' }],
    },
    sha256: 'fad0a862c8c454f5bae843886d44e3753296054aaed9bccfa4601c7c0b36b0c0',
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

  const variants: [string, { prefetch?: boolean; workers?: number; kernels?: 'js' }][] = [
    ['', {}],
    [' (kernels: js)', { kernels: 'js' }],
    [' (prefetch: false)', { prefetch: false }],
    [' (workers: 2)', { workers: 2 }],
  ];
  for (const [name, golden] of Object.entries(GOLDEN)) {
    for (const [label, options] of variants) {
      if (label !== '' && !['variation_ratio', 'ties', 'sce', 'linear'].includes(name)) continue;
      it(`${name}${label}`, async () => {
        const out = join(root, `out-${name}${label.replace(/\W+/g, '-')}`);
        await mergeModels(golden.config, { out, cwd: root, ...options });
        const hash = sha256(join(out, 'model.safetensors'));
        if (process.env.FUSECHAT_RECORD_GOLDEN) console.log(`GOLDEN ${name} ${hash}`);
        else expect(hash).toBe(golden.sha256);
      });
    }
  }
});
