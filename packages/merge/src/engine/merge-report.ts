import type { TopLevelSpec } from '@fusechat/plots';

/** Per-tensor record of the merge report. */
export interface TensorReport {
  readonly name: string;
  readonly shape: readonly number[];
  readonly dtype: string;
  readonly layer?: number | undefined;
  /** Per-model weights the method chose (VaRM, SCE), in `models` order. */
  readonly weights?: readonly number[] | undefined;
  /** Per-model mean squared change against the base, `mean((θj − θ0)²)`. */
  readonly changeMeanSquare?: readonly number[] | undefined;
  /** Models whose embedding rows were cropped to the base's vocabulary. */
  readonly cropped?: readonly string[] | undefined;
  /** Copied unchanged (non-float tensors). */
  readonly copied?: boolean | undefined;
}

/** `merge-report.json`. */
export interface MergeReport {
  readonly formatVersion: 1;
  readonly mergeMethod: string;
  readonly baseModel: string | undefined;
  readonly models: readonly string[];
  readonly seed: number;
  readonly config: unknown;
  readonly warnings: readonly string[];
  readonly tensors: readonly TensorReport[];
  /** Per layer: mean over the layer's tensors of the weights / change sizes (a summary; the chart plots every tensor). */
  readonly layers: readonly { layer: number; weights?: number[]; changeMeanSquare?: number[] }[];
  readonly seconds: number;
  readonly inputBytes: number;
  readonly outputBytes: number;
}

/** Averages per-tensor records into per-layer series. */
export function summariseLayers(tensors: readonly TensorReport[], modelCount: number): MergeReport['layers'] {
  const byLayer = new Map<
    number,
    { weights: number[]; weightCount: number; change: number[]; changeCount: number }
  >();
  for (const tensor of tensors) {
    if (tensor.layer === undefined) continue;
    let entry = byLayer.get(tensor.layer);
    if (!entry) {
      entry = {
        weights: new Array(modelCount).fill(0),
        weightCount: 0,
        change: new Array(modelCount).fill(0),
        changeCount: 0,
      };
      byLayer.set(tensor.layer, entry);
    }
    if (tensor.weights) {
      tensor.weights.forEach((w, j) => {
        entry.weights[j]! += w;
      });
      entry.weightCount++;
    }
    if (tensor.changeMeanSquare) {
      tensor.changeMeanSquare.forEach((c, j) => {
        entry.change[j]! += c;
      });
      entry.changeCount++;
    }
  }
  return [...byLayer.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([layer, entry]) => ({
      layer,
      ...(entry.weightCount > 0 ? { weights: entry.weights.map((w) => w / entry.weightCount) } : {}),
      ...(entry.changeCount > 0 ? { changeMeanSquare: entry.change.map((c) => c / entry.changeCount) } : {}),
    }));
}

/** The module a tensor belongs to, as the merge report groups tensors. */
export type ModuleType = 'attention' | 'mlp' | 'embeddings' | 'norms' | 'other';

/** Module types in the order the report draws them. */
export const MODULE_TYPES: readonly ModuleType[] = ['attention', 'mlp', 'embeddings', 'norms', 'other'];

const MODULE_TITLES: Record<ModuleType, string> = {
  attention: 'attention',
  mlp: 'MLP',
  embeddings: 'embeddings',
  norms: 'norms',
  other: 'other',
};

// Checked in this order: norms first, so `self_attn.q_norm` (Qwen3) or `mlp.norm` count as norms.
const MODULE_PATTERNS: readonly (readonly [ModuleType, RegExp])[] = [
  ['norms', /(?:^|[._])(?:[a-z]*norm[a-z_]*|ln(?:_?f|_?\d+)?|ln_[a-z_]+)(?:\.|$)/i],
  [
    'embeddings',
    /(?:^|\.)(?:embed_tokens|embed_in|embed_out|embeddings?|word_embeddings|wte|wpe|tok_embeddings|lm_head)(?:\.|$)|^output\./i,
  ],
  [
    'attention',
    /(?:^|\.)(?:self_attn|attn|attention|self_attention|cross_attn|[qkvo]_proj|qkv_proj|query_key_value|c_attn|wqkv|w[qkvo])(?:\.|$)/i,
  ],
  [
    'mlp',
    /(?:^|\.)(?:mlp|feed_forward|ffn|block_sparse_moe|experts|shared_expert|gate_proj|up_proj|down_proj|gate_up_proj|fc\d|c_fc|dense_h_to_4h|dense_4h_to_h|w[123])(?:\.|$)/i,
  ],
];

/**
 * The module type of a tensor, from its name: Llama / Mistral / Qwen2 names
 * (`model.layers.3.self_attn.q_proj.weight` → `attention`, `…mlp.down_proj…` → `mlp`,
 * `…input_layernorm…` and `model.norm` → `norms`, `embed_tokens` and `lm_head` → `embeddings`)
 * and the other names mergekit's architectures use (`transformer.h.0.attn.c_attn`, `ln_f`,
 * `wte`, `feed_forward.w1`, MoE `experts`, …); `other` when nothing matches.
 *
 * @example
 * ```ts
 * moduleTypeOf('model.layers.0.mlp.gate_proj.weight'); // 'mlp'
 * moduleTypeOf('model.layers.0.self_attn.q_norm.weight'); // 'norms'
 * moduleTypeOf('score.weight'); // 'other'
 * ```
 */
export function moduleTypeOf(tensorName: string): ModuleType {
  for (const [type, pattern] of MODULE_PATTERNS) if (pattern.test(tensorName)) return type;
  return 'other';
}

/** One plotted value: a model's weight (or change size) on one tensor. */
interface ReportPoint {
  readonly tensor: string;
  readonly module: string;
  readonly layer: number | null;
  readonly model: string;
  readonly value: number;
  readonly description: string;
}

const MODEL_COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f'];

/** What the chart plots: the method's weights when it chose any, else each model's change size. */
function reportMeasure(report: MergeReport): 'weights' | 'changeMeanSquare' {
  return report.tensors.some((tensor) => tensor.weights !== undefined) ? 'weights' : 'changeMeanSquare';
}

/**
 * The Vega-Lite spec {@link renderReportSvg} draws (for users who embed or restyle it): per
 * tensor and model, the weight the method chose (VaRM, SCE) — or, for methods that choose none,
 * the model's mean squared change against the base — with one row of panels per module type
 * (attention, MLP, norms, …) over the layer index, a line per model through each layer's mean,
 * and the tensors outside the layers (embeddings, final norm, `lm_head`) in a panel of their own.
 *
 * @example
 * ```ts
 * const spec = mergeReportSpec(JSON.parse(readFileSync('out/merge-report.json', 'utf8')));
 * ```
 */
export function mergeReportSpec(report: MergeReport): TopLevelSpec {
  const measure = reportMeasure(report);
  const points: ReportPoint[] = [];
  for (const tensor of report.tensors) {
    const values = tensor[measure];
    if (!values) continue;
    const module = MODULE_TITLES[moduleTypeOf(tensor.name)];
    values.forEach((value, j) => {
      const model = report.models[j] ?? `model ${j}`;
      if (!Number.isFinite(value)) return;
      points.push({
        tensor: tensor.name,
        module,
        layer: tensor.layer ?? null,
        model,
        value,
        description: `${tensor.name} · ${model}: ${value}`,
      });
    });
  }
  const models = report.models.length > 0 ? [...report.models] : [...new Set(points.map((p) => p.model))];
  const layerModules = MODULE_TYPES.map((type) => MODULE_TITLES[type]).filter((title) =>
    points.some((point) => point.layer !== null && point.module === title),
  );
  const outside = [...new Set(points.filter((point) => point.layer === null).map((point) => point.tensor))];
  const maxLayer = points.reduce((max, point) => Math.max(max, point.layer ?? 0), 0);
  const weights = measure === 'weights';
  const valueTitle = weights ? 'weight' : 'mean((θj − θ0)²)';
  const y = {
    field: 'value',
    type: 'quantitative',
    title: valueTitle,
    ...(weights
      ? { scale: { domain: [0, 1], nice: false }, axis: { values: [0, 0.25, 0.5, 0.75, 1], format: '.2f' } }
      : { scale: { zero: true, nice: true }, axis: { format: '.2~e', tickCount: 5 } }),
  } as const;
  const color = {
    field: 'model',
    type: 'nominal',
    title: 'model',
    sort: models,
    scale: { domain: models, range: models.map((_, j) => MODEL_COLORS[j % MODEL_COLORS.length]!) },
    legend: { orient: 'top', direction: 'horizontal', labelLimit: 320 },
  } as const;
  const description = { field: 'description', type: 'nominal' } as const;
  const panels: object[] = [];
  if (layerModules.length > 0) {
    panels.push({
      transform: [{ filter: 'datum.layer !== null' }],
      facet: {
        row: {
          field: 'module',
          type: 'nominal',
          title: 'module type',
          sort: layerModules,
          header: { labelAngle: 0, labelAlign: 'left', labelFontWeight: 'bold' },
        },
      },
      spec: {
        width: 560,
        height: 120,
        encoding: {
          x: {
            field: 'layer',
            type: 'quantitative',
            title: 'layer index',
            scale: { domain: [0, Math.max(1, maxLayer)], nice: false },
            axis: { format: 'd', tickMinStep: 1, tickCount: Math.min(16, Math.max(1, maxLayer)) },
          },
          color,
        },
        layer: [
          {
            mark: { type: 'line', strokeWidth: 1.5, opacity: 0.7 },
            encoding: {
              y: { ...y, aggregate: 'mean' },
              detail: { field: 'model', type: 'nominal' },
            },
          },
          {
            mark: { type: 'point', filled: true, size: 30, opacity: 0.85 },
            encoding: { y, description },
          },
        ],
      },
      resolve: { scale: { y: weights ? 'shared' : 'independent' } },
    });
  }
  if (outside.length > 0) {
    panels.push({
      transform: [{ filter: 'datum.layer === null' }],
      title: { text: 'tensors outside the layers', anchor: 'start', fontSize: 12 },
      width: { step: Math.max(12, 36 / Math.max(1, models.length)) * models.length },
      height: 120,
      mark: { type: 'bar' },
      encoding: {
        x: {
          field: 'tensor',
          type: 'nominal',
          title: null,
          sort: outside,
          axis: { labelAngle: -30, labelLimit: 240 },
        },
        xOffset: { field: 'model', type: 'nominal', sort: models },
        y,
        color,
        description,
      },
    });
  }
  const title = {
    text: weights
      ? `${report.mergeMethod}: per-tensor weights by module type and layer`
      : `${report.mergeMethod}: per-tensor mean squared change against the base`,
    subtitle: weights
      ? 'one point per tensor and model; lines through each layer’s mean'
      : 'mean((θj − θ0)²) per tensor and model; lines through each layer’s mean',
    anchor: 'start',
  } as const;
  const common = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    background: 'white',
    padding: 12,
    config: { font: 'sans-serif', axis: { labelFontSize: 11, titleFontSize: 12 }, view: { stroke: '#ccc' } },
  } as const;
  if (panels.length === 0) {
    return {
      ...common,
      width: 560,
      height: 40,
      data: { values: [{ text: 'no tensor carries weights or change sizes' }] },
      mark: { type: 'text', align: 'left', x: 0, y: 20 },
      encoding: { text: { field: 'text', type: 'nominal' } },
    } as TopLevelSpec;
  }
  return { ...common, data: { values: points }, vconcat: panels, spacing: 24 } as TopLevelSpec;
}

/**
 * `merge-report.svg`: the chart of {@link mergeReportSpec} as a static SVG document (no scripts,
 * no CDN), rendered headless by `@fusechat/plots`. The same report gives the same bytes.
 *
 * @example
 * ```ts
 * await writeFile('merge-report.svg', await renderReportSvg(report));
 * ```
 */
export async function renderReportSvg(report: MergeReport): Promise<string> {
  // Loaded on use: vega is large, and most imports of @fusechat/merge never draw a chart.
  const { renderVegaLite } = await import('@fusechat/plots');
  return `${await renderVegaLite(mergeReportSpec(report))}\n`;
}
