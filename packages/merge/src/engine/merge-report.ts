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
  /** Per layer: mean over the layer's tensors of the weights / change sizes (for plotting). */
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

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f'];

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * An SVG line chart of the per-layer weights the method chose (or, for methods that choose none,
 * each model's mean squared change), one line per model.
 *
 * @example
 * ```ts
 * writeFileSync('merge-report.svg', renderReportSvg(report));
 * ```
 */
export function renderReportSvg(report: MergeReport): string {
  const useWeights = report.layers.some((layer) => layer.weights !== undefined);
  const series = report.models.map((_, j) =>
    report.layers.map(
      (layer) => (useWeights ? layer.weights?.[j] : layer.changeMeanSquare?.[j]) ?? Number.NaN,
    ),
  );
  const width = 720;
  const height = 360;
  const left = 70;
  const right = 180;
  const top = 40;
  const bottom = 50;
  const plotWidth = width - left - right;
  const plotHeight = height - top - bottom;
  const values = series.flat().filter(Number.isFinite);
  const maxValue = values.length > 0 ? Math.max(...values) : 1;
  const yMax = maxValue > 0 ? maxValue * 1.05 : 1;
  const layers = report.layers.map((layer) => layer.layer);
  const xOf = (index: number) =>
    left + (layers.length <= 1 ? plotWidth / 2 : (index / (layers.length - 1)) * plotWidth);
  const yOf = (value: number) => top + plotHeight - (value / yMax) * plotHeight;
  const title = useWeights
    ? `${report.mergeMethod}: per-layer weights (mean over each layer's tensors)`
    : `${report.mergeMethod}: per-layer mean squared change against the base`;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${left}" y="22" font-size="14">${escapeXml(title)}</text>`,
    `<line x1="${left}" y1="${top + plotHeight}" x2="${left + plotWidth}" y2="${top + plotHeight}" stroke="black"/>`,
    `<line x1="${left}" y1="${top}" x2="${left}" y2="${top + plotHeight}" stroke="black"/>`,
    `<text x="${left + plotWidth / 2}" y="${height - 12}" text-anchor="middle">layer</text>`,
  ];
  for (let tick = 0; tick <= 4; tick++) {
    const value = (yMax * tick) / 4;
    const y = yOf(value);
    parts.push(
      `<line x1="${left - 4}" y1="${y}" x2="${left + plotWidth}" y2="${y}" stroke="#ddd"/>`,
      `<text x="${left - 8}" y="${y + 4}" text-anchor="end">${value.toPrecision(3)}</text>`,
    );
  }
  const step = Math.max(1, Math.ceil(layers.length / 12));
  layers.forEach((layer, index) => {
    if (index % step === 0 || index === layers.length - 1) {
      parts.push(`<text x="${xOf(index)}" y="${top + plotHeight + 18}" text-anchor="middle">${layer}</text>`);
    }
  });
  series.forEach((points, j) => {
    const color = COLORS[j % COLORS.length];
    const path = points
      .map((value, index) =>
        Number.isFinite(value) ? `${xOf(index).toFixed(1)},${yOf(value).toFixed(1)}` : undefined,
      )
      .filter((point) => point !== undefined)
      .join(' ');
    if (path) parts.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${path}"/>`);
    const y = top + 10 + j * 18;
    const label = report.models[j]!;
    parts.push(
      `<line x1="${left + plotWidth + 12}" y1="${y}" x2="${left + plotWidth + 32}" y2="${y}" stroke="${color}" stroke-width="2"/>`,
      `<text x="${left + plotWidth + 38}" y="${y + 4}">${escapeXml(label.length > 22 ? `…${label.slice(-21)}` : label)}</text>`,
    );
  });
  if (layers.length === 0) parts.push(`<text x="${left + 10}" y="${top + 20}">no layer tensors</text>`);
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
