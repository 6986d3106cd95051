import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseMergeConfig } from './merge-config.js';
import { createParameterResolver, layerIndexOf } from './resolve-parameters.js';

// Configs as mergekit's README and examples write them.
const TIES_EXAMPLE = `
models:
  - model: psmathur/orca_mini_v3_13b
    parameters:
      density: [1, 0.7, 0.1] # density gradient
      weight: 1.0
  - model: garage-bAInd/Platypus2-13B
    parameters:
      density: 0.5
      weight: [0, 0.3, 0.7, 1] # weight gradient
  - model: WizardLM/WizardMath-13B-V1.0
    parameters:
      density: 0.33
      weight:
        - filter: mlp
          value: 0.5
        - value: 0
merge_method: ties
base_model: TheBloke/Llama-2-13B-fp16
parameters:
  normalize: true
  int8_mask: true
dtype: float16
`;

const SLERP_EXAMPLE = `
slices:
  - sources:
      - model: psmathur/orca_mini_v3_13b
        layer_range: [0, 40]
      - model: garage-bAInd/Platypus2-13B
        layer_range: [0, 40]
merge_method: slerp
base_model: psmathur/orca_mini_v3_13b
parameters:
  t:
    - filter: self_attn
      value: [0, 0.5, 0.3, 0.7, 1]
    - filter: mlp
      value: [1, 0.5, 0.7, 0.3, 0]
    - value: 0.5 # fallback for rest of tensors
dtype: float16
`;

const SCE_EXAMPLE = `
models:
  - model: ./target-1
  - model: ./target-2
  - model: ./target-3
merge_method: sce
base_model: ./pivot
parameters:
  select_topk: 0.1
dtype: bfloat16
out_dtype: bfloat16
tokenizer_source: base
chat_template: chatml
`;

describe('parseMergeConfig', () => {
  it('accepts mergekit example configs unchanged', () => {
    const ties = parseMergeConfig(parse(TIES_EXAMPLE));
    expect(ties.mergeMethod).toBe('ties');
    expect(ties.models.map((m) => m.model)).toHaveLength(3);
    expect(ties.dtype).toBe('F16');
    const slerp = parseMergeConfig(parse(SLERP_EXAMPLE));
    expect(slerp.slices).toHaveLength(1);
    expect(slerp.baseModel).toBe('psmathur/orca_mini_v3_13b');
    const sce = parseMergeConfig(parse(SCE_EXAMPLE));
    expect(sce.outDtype).toBe('BF16');
    expect(sce.tokenizerSource).toBeUndefined();
    expect(sce.ignoredKeys).toEqual(['chat_template']);
  });

  it('reports every problem at once', () => {
    let message = '';
    try {
      parseMergeConfig({
        merge_method: 'ties',
        models: [{ model: '' }, { model: 'a', parameters: { weight: { nope: 1 } } }],
        dtype: 'int4',
      });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/3 problems/);
    expect(message).toMatch(/models\.0\.model/);
    expect(message).toMatch(/dtype/);
  });

  it('refuses slices that reorder layers', () => {
    expect(() =>
      parseMergeConfig({
        merge_method: 'slerp',
        slices: [
          {
            sources: [
              { model: 'a', layer_range: [0, 8] },
              { model: 'b', layer_range: [8, 16] },
            ],
          },
        ],
      }),
    ).toThrow(/layer i with layer i/);
  });
});

describe('createParameterResolver', () => {
  it('interpolates gradients over the layer index and gives non-layer tensors the first value', () => {
    const config = parseMergeConfig(parse(TIES_EXAMPLE));
    const resolver = createParameterResolver(config, 41);
    const platypus = 'garage-bAInd/Platypus2-13B';
    // layer 20 of 41 → t = 0.5 → weight gradient [0, .3, .7, 1] at 1.5 → 0.5
    expect(resolver.perModel(['weight'], platypus, 'model.layers.20.mlp.up_proj.weight').weight).toBeCloseTo(
      0.5,
      12,
    );
    expect(resolver.perModel(['weight'], platypus, 'model.embed_tokens.weight').weight).toBe(0);
    expect(resolver.perModel(['weight'], platypus, 'lm_head.weight').weight).toBe(0);
    const wizard = 'WizardLM/WizardMath-13B-V1.0';
    expect(resolver.perModel(['weight'], wizard, 'model.layers.3.mlp.gate_proj.weight').weight).toBe(0.5);
    expect(resolver.perModel(['weight'], wizard, 'model.layers.3.self_attn.q_proj.weight').weight).toBe(0);
    expect(resolver.global(['normalize', 'lambda'], 'model.norm.weight')).toEqual({
      normalize: true,
      lambda: undefined,
    });
  });

  it('falls back per model → global', () => {
    const config = parseMergeConfig({
      merge_method: 'ties',
      base_model: 'base',
      models: [{ model: 'a', parameters: { density: [{ filter: 'mlp', value: 0.2 }] } }, { model: 'b' }],
      parameters: { density: 0.7, weight: 1 },
    });
    const resolver = createParameterResolver(config, 2);
    expect(resolver.perModel(['density', 'weight'], 'a', 'model.layers.1.mlp.up_proj.weight')).toEqual({
      density: 0.2,
      weight: 1,
    });
    expect(resolver.perModel(['density'], 'a', 'model.layers.1.self_attn.q_proj.weight')).toEqual({
      density: 0.7,
    });
    expect(resolver.perModel(['density'], 'b', 'model.layers.1.mlp.up_proj.weight')).toEqual({
      density: 0.7,
    });
  });

  it('uses slice-local positions and slice parameters', () => {
    const config = parseMergeConfig({
      merge_method: 'slerp',
      base_model: 'a',
      slices: [
        {
          sources: [
            { model: 'a', layer_range: [0, 4] },
            { model: 'b', layer_range: [0, 4] },
          ],
          parameters: { t: [0, 1] },
        },
        {
          sources: [
            { model: 'a', layer_range: [4, 8] },
            { model: 'b', layer_range: [4, 8] },
          ],
        },
      ],
      parameters: { t: 0.5 },
    });
    const resolver = createParameterResolver(config, 8);
    expect(resolver.global(['t'], 'model.layers.2.mlp.up_proj.weight').t).toBeCloseTo(2 / 3, 12);
    expect(resolver.global(['t'], 'model.layers.6.mlp.up_proj.weight').t).toBe(0.5);
    expect(resolver.position('model.layers.9.mlp.up_proj.weight')).toBeUndefined();
  });

  it('finds layer indices in common naming schemes', () => {
    expect(layerIndexOf('model.layers.31.self_attn.k_proj.weight')).toBe(31);
    expect(layerIndexOf('transformer.h.4.attn.c_attn.weight')).toBe(4);
    expect(layerIndexOf('model.norm.weight')).toBeUndefined();
  });
});
