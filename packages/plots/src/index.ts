export type { TopLevelSpec } from 'vega-lite';
export { renderVegaLite } from './render-vega-lite/render-vega-lite.js';
