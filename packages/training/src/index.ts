export type { LossCurveOptions, LossCurveRow } from './plots/render-loss-curve.js';
export { LOSS_CURVE_SERIES, lossCurveSpec, renderLossCurve } from './plots/render-loss-curve.js';
export { renderVegaLite } from './plots/render-vega-lite.js';
export type { TrainingBatch } from './training-batch.js';
export type { TrainingDataset } from './training-dataset.js';
export type { TrainingOptions } from './training-options.js';
