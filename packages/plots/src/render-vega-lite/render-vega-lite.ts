import { parse, View } from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

/**
 * Renders a Vega-Lite spec to an SVG string headless: compiled to Vega with `vega-lite`, drawn by
 * a `vega` View with no renderer attached (no browser, no canvas — text widths are estimated).
 * Every plot of the project goes through this one function.
 *
 * @example
 * ```ts
 * const svg = await renderVegaLite({
 *   data: { values: [{ step: 1, loss: 2.3 }, { step: 2, loss: 1.9 }] },
 *   mark: 'line',
 *   encoding: { x: { field: 'step', type: 'quantitative' }, y: { field: 'loss', type: 'quantitative' } },
 * });
 * await writeFile('loss.svg', svg);
 * ```
 */
export async function renderVegaLite(spec: TopLevelSpec): Promise<string> {
  const view = new View(parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
