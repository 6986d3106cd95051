import type { TopLevelSpec } from 'vega-lite';

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
  // Loaded on first use: vega is an ES module with top-level await, which `require()` cannot load
  // on Node 20, so a static import would make every CommonJS consumer of this package fail.
  const [{ parse, View }, { compile }] = await Promise.all([import('vega'), import('vega-lite')]);
  const view = new View(parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
