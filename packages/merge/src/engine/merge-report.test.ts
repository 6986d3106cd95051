import { describe, expect, it } from 'vitest';
import {
  type MergeReport,
  mergeReportSpec,
  moduleTypeOf,
  renderReportSvg,
  type TensorReport,
} from './merge-report.js';

function report(tensors: TensorReport[], mergeMethod = 'variation_ratio'): MergeReport {
  return {
    formatVersion: 1,
    mergeMethod,
    baseModel: 'pivot',
    models: ['target-a', 'target-b'],
    seed: 0,
    config: {},
    warnings: [],
    tensors,
    layers: [],
    seconds: 0,
    inputBytes: 0,
    outputBytes: 0,
  };
}

const LAYERS = 4;

/** Attention weighs 0.95 / 0.05, MLP 0.01 / 0.99, norms 0.3 / 0.7 — the layer mean would be ≈ 0.5. */
function splitReport(mergeMethod = 'variation_ratio'): MergeReport {
  const tensors: TensorReport[] = [
    { name: 'model.embed_tokens.weight', shape: [8, 4], dtype: 'F32', weights: [0.6, 0.4] },
  ];
  for (let layer = 0; layer < LAYERS; layer++) {
    const prefix = `model.layers.${layer}`;
    for (const name of ['q_proj', 'k_proj', 'v_proj', 'o_proj']) {
      tensors.push({
        name: `${prefix}.self_attn.${name}.weight`,
        shape: [4, 4],
        dtype: 'F32',
        layer,
        weights: [0.95, 0.05],
      });
    }
    for (const name of ['gate_proj', 'up_proj', 'down_proj']) {
      tensors.push({
        name: `${prefix}.mlp.${name}.weight`,
        shape: [4, 4],
        dtype: 'F32',
        layer,
        weights: [0.01, 0.99],
      });
    }
    tensors.push({
      name: `${prefix}.input_layernorm.weight`,
      shape: [4],
      dtype: 'F32',
      layer,
      weights: [0.3, 0.7],
    });
  }
  tensors.push({ name: 'model.norm.weight', shape: [4], dtype: 'F32', weights: [0.2, 0.8] });
  tensors.push({ name: 'lm_head.weight', shape: [8, 4], dtype: 'F32', weights: [0.45, 0.55] });
  return report(tensors, mergeMethod);
}

function attribute(tag: string, name: string): string | undefined {
  return new RegExp(`\\s${name}="([^"]*)"`).exec(tag)?.[1];
}

/** Every point mark of the SVG: the tensor and model its label names, and its y in the panel. */
function points(svg: string): { tensor: string; model: string; label: number; y: number }[] {
  return [...svg.matchAll(/<path [^>]*aria-roledescription="point"[^>]*>/g)].map(([tag]) => {
    const [, tensor, model, label] = /^(\S+) · (\S+): (\S+)$/.exec(attribute(tag, 'aria-label')!)!;
    const [, y] = /translate\([-\d.e]+,([-\d.e]+)\)/.exec(attribute(tag, 'transform')!)!;
    return { tensor: tensor!, model: model!, label: Number(label), y: Number(y) };
  });
}

function texts(svg: string): string[] {
  return [...svg.matchAll(/<text [^>]*>([^<]*)<\/text>/g)].map((match) => match[1]!);
}

describe('moduleTypeOf', () => {
  it.each([
    // Llama / Mistral / Qwen2 (transformers names).
    ['model.layers.3.self_attn.q_proj.weight', 'attention'],
    ['model.layers.3.self_attn.k_proj.bias', 'attention'],
    ['model.layers.3.self_attn.o_proj.weight', 'attention'],
    ['model.layers.3.mlp.gate_proj.weight', 'mlp'],
    ['model.layers.3.mlp.down_proj.weight', 'mlp'],
    ['model.layers.3.input_layernorm.weight', 'norms'],
    ['model.layers.3.post_attention_layernorm.weight', 'norms'],
    ['model.layers.3.self_attn.q_norm.weight', 'norms'],
    ['model.norm.weight', 'norms'],
    ['model.embed_tokens.weight', 'embeddings'],
    ['lm_head.weight', 'embeddings'],
    // Other names mergekit's architecture files use.
    ['transformer.h.0.attn.c_attn.weight', 'attention'],
    ['transformer.h.0.mlp.c_fc.weight', 'mlp'],
    ['transformer.h.0.ln_1.weight', 'norms'],
    ['transformer.ln_f.weight', 'norms'],
    ['transformer.wte.weight', 'embeddings'],
    ['gpt_neox.layers.0.attention.query_key_value.weight', 'attention'],
    ['gpt_neox.embed_in.weight', 'embeddings'],
    ['embed_out.weight', 'embeddings'],
    ['layers.0.attention.wq.weight', 'attention'],
    ['layers.0.feed_forward.w1.weight', 'mlp'],
    ['layers.0.attention_norm.weight', 'norms'],
    ['output.weight', 'embeddings'],
    ['model.layers.0.block_sparse_moe.experts.3.w2.weight', 'mlp'],
    ['model.layers.0.block_sparse_moe.gate.weight', 'mlp'],
    ['score.weight', 'other'],
    ['model.rotary_emb.inv_freq', 'other'],
  ])('%s → %s', (name, type) => {
    expect(moduleTypeOf(name)).toBe(type);
  });
});

describe('renderReportSvg', () => {
  it('plots each tensor’s weights, so attention at 0.95 / 0.05 and MLP at 0.01 / 0.99 show apart (not a 0.5 average)', async () => {
    const svg = await renderReportSvg(splitReport());
    const drawn = points(svg);
    // One point per model and layer tensor (8 per layer), the non-layer tensors are bars.
    expect(drawn).toHaveLength(2 * LAYERS * 8);
    const expected: Record<string, [number, number]> = {
      attention: [0.95, 0.05],
      mlp: [0.01, 0.99],
      norms: [0.3, 0.7],
    };
    for (const point of drawn) {
      const value = expected[moduleTypeOf(point.tensor)]![point.model === 'target-a' ? 0 : 1];
      expect(point.label).toBe(value);
      // Position, not only the label: the panels are 120 px high with the weight axis 0…1.
      expect(1 - point.y / 120).toBeCloseTo(value, 6);
    }
    expect(drawn.some((point) => Math.abs(1 - point.y / 120 - 0.5) < 0.1)).toBe(false);
    // The bars of the tensors outside the layers carry their own weights.
    for (const [tensor, a, b] of [
      ['model.embed_tokens.weight', 0.6, 0.4],
      ['model.norm.weight', 0.2, 0.8],
      ['lm_head.weight', 0.45, 0.55],
    ] as const) {
      expect(svg).toContain(`aria-label="${tensor} · target-a: ${a}"`);
      expect(svg).toContain(`aria-label="${tensor} · target-b: ${b}"`);
    }
  });

  it('titles the chart with the method, labels the axes and the panels by module type, with even ticks', async () => {
    const svg = await renderReportSvg(splitReport('sce'));
    const labels = texts(svg);
    expect(labels).toContain('sce: per-tensor weights by module type and layer');
    expect(labels).toContain('layer index');
    expect(labels.filter((text) => text === 'weight').length).toBeGreaterThanOrEqual(3);
    for (const panel of ['attention', 'MLP', 'norms', 'tensors outside the layers', 'target-a', 'target-b']) {
      expect(labels).toContain(panel);
    }
    // Weight axes: 0, 0.25, …, 1 in every panel.
    expect(labels.filter((text) => text === '0.50').length).toBe(4);
    const weightTicks = labels
      .filter((text) => /^[01]\.\d\d$/.test(text))
      .slice(0, 5)
      .map(Number);
    expect(weightTicks).toEqual([0, 0.25, 0.5, 0.75, 1]);
    // Layer axis: whole, evenly spaced layer indices.
    const layerAxis =
      /aria-label="X-axis titled 'layer index'[\s\S]*?role-axis-label[^>]*>([\s\S]*?)<\/g>/.exec(svg)![1]!;
    const layerTicks = [...layerAxis.matchAll(/>(-?\d+)<\/text>/g)].map((match) => Number(match[1]));
    expect(layerTicks).toEqual([0, 1, 2, 3]);
  });

  it('is deterministic: the same report gives the same bytes', async () => {
    const first = await renderReportSvg(splitReport());
    expect(await renderReportSvg(structuredClone(splitReport()))).toBe(first);
    expect(first).toMatch(/^<svg[\s\S]*<\/svg>\n$/);
    expect(first).not.toMatch(/<script|href="http|url\(http/);
  });

  it('plots each model’s change size when the method chose no weights', async () => {
    const tensors: TensorReport[] = [0, 1].flatMap((layer) => [
      {
        name: `model.layers.${layer}.self_attn.q_proj.weight`,
        shape: [4],
        dtype: 'F32',
        layer,
        changeMeanSquare: [1e-4, 4e-4],
      },
      {
        name: `model.layers.${layer}.mlp.up_proj.weight`,
        shape: [4],
        dtype: 'F32',
        layer,
        changeMeanSquare: [3e-4, 2e-4],
      },
    ]);
    const svg = await renderReportSvg(report(tensors, 'linear'));
    expect(texts(svg)).toContain('linear: per-tensor mean squared change against the base');
    expect(points(svg).map((point) => point.label)).toEqual(expect.arrayContaining([1e-4, 4e-4, 3e-4, 2e-4]));
    expect(points(svg)).toHaveLength(8);
  });

  it('draws a report with no tensor values as a note, still a well-formed SVG', async () => {
    const svg = await renderReportSvg(
      report([{ name: 'model.position_ids', shape: [4], dtype: 'I64', copied: true }]),
    );
    expect(texts(svg)).toContain('no tensor carries weights or change sizes');
    expect(points(svg)).toHaveLength(0);
  });

  it('the spec keeps one row per tensor and model, in report order', () => {
    const spec = mergeReportSpec(splitReport()) as { data: { values: { tensor: string; model: string }[] } };
    expect(spec.data.values).toHaveLength(2 * (LAYERS * 8 + 3));
    expect(spec.data.values.slice(0, 3).map((row) => `${row.tensor}/${row.model}`)).toEqual([
      'model.embed_tokens.weight/target-a',
      'model.embed_tokens.weight/target-b',
      'model.layers.0.self_attn.q_proj.weight/target-a',
    ]);
  });
});
