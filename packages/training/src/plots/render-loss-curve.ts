import type { TopLevelSpec } from '@fusechat/plots';
import { renderVegaLite } from '@fusechat/plots';

/**
 * One row of the training metrics log (`metrics.jsonl`) as far as the loss curve reads it:
 * training rows carry `loss` (and `clm` / `fusion` for fusion training), evaluation rows
 * `eval_loss`. Other fields are ignored; missing or non-finite values are left out of the plot.
 */
export interface LossCurveRow {
  readonly step: number;
  readonly loss?: number | null | undefined;
  readonly clm?: number | null | undefined;
  readonly fusion?: number | null | undefined;
  readonly eval_loss?: number | null | undefined;
}

/** Options of {@link renderLossCurve}. */
export interface LossCurveOptions {
  /** Chart title (default `Training loss`). */
  readonly title?: string | undefined;
  /** Plot area in pixels (default 480 × 280). */
  readonly width?: number | undefined;
  readonly height?: number | undefined;
}

/** Series of the loss curve, in legend order, with the metrics field each one reads. */
export const LOSS_CURVE_SERIES = [
  { field: 'loss', label: 'train loss' },
  { field: 'clm', label: 'train CLM' },
  { field: 'fusion', label: 'train fusion' },
  { field: 'eval_loss', label: 'eval loss' },
] as const satisfies readonly { field: keyof LossCurveRow; label: string }[];

const SERIES_COLORS: Record<(typeof LOSS_CURVE_SERIES)[number]['label'], string> = {
  'train loss': '#1f77b4',
  'train CLM': '#9ecae9',
  'train fusion': '#ff9d98',
  'eval loss': '#d62728',
};

/**
 * The loss curve of a training run as an SVG document: training loss (and its CLM and fusion
 * terms when the rows carry them) and evaluation loss against the optimizer step, with titled
 * axes. Series without a single finite value are left out of the chart and the legend.
 *
 * @example
 * ```ts
 * const rows = (await readFile('out/metrics.jsonl', 'utf8')).trim().split('\n').map((line) => JSON.parse(line));
 * await writeFile('out/loss.svg', await renderLossCurve(rows));
 * ```
 */
export async function renderLossCurve(
  rows: readonly LossCurveRow[],
  options: LossCurveOptions = {},
): Promise<string> {
  return renderVegaLite(lossCurveSpec(rows, options));
}

/** The Vega-Lite spec {@link renderLossCurve} draws (for users who embed or restyle it). */
export function lossCurveSpec(rows: readonly LossCurveRow[], options: LossCurveOptions = {}): TopLevelSpec {
  const points: { step: number; loss: number; series: string }[] = [];
  for (const { field, label } of LOSS_CURVE_SERIES) {
    for (const row of rows) {
      const value = row[field];
      if (typeof value === 'number' && Number.isFinite(value) && Number.isFinite(row.step)) {
        points.push({ step: row.step, loss: value, series: label });
      }
    }
  }
  const present = LOSS_CURVE_SERIES.map((series) => series.label).filter((label) =>
    points.some((point) => point.series === label),
  );
  const maxStep = points.reduce((max, point) => Math.max(max, point.step), 0);
  const color = {
    field: 'series',
    type: 'nominal',
    title: null,
    sort: present,
    scale: { domain: present, range: present.map((label) => SERIES_COLORS[label]) },
    legend: { orient: 'top-right' },
  } as const;
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: options.title ?? 'Training loss',
    width: options.width ?? 480,
    height: options.height ?? 280,
    background: 'white',
    data: { values: points },
    encoding: {
      x: {
        field: 'step',
        type: 'quantitative',
        title: 'optimizer step',
        // Whole steps only, on "nice" round ticks (1, 2, 5 × 10^n) from 0.
        scale: { domainMin: 0, nice: true },
        axis: { format: 'd', tickMinStep: 1, tickCount: Math.min(10, Math.max(1, maxStep)) },
      },
      y: {
        field: 'loss',
        type: 'quantitative',
        title: 'loss (nats per supervised token)',
        scale: { zero: false, nice: true },
        axis: { tickCount: 8 },
      },
      color,
    },
    layer: [
      { mark: { type: 'line', strokeWidth: 1.5, interpolate: 'linear' } },
      // Evaluation runs every eval_steps: points show where it was measured.
      {
        transform: [{ filter: { field: 'series', equal: 'eval loss' } }],
        mark: { type: 'point', filled: true, size: 30 },
      },
    ],
  };
}
