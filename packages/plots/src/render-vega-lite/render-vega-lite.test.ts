import { describe, expect, it } from 'vitest';
import { renderVegaLite } from './render-vega-lite.js';

const spec = {
  $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
  title: 'Two points',
  data: {
    values: [
      { x: 1, y: 2 },
      { x: 2, y: 3 },
    ],
  },
  mark: 'point',
  encoding: {
    x: { field: 'x', type: 'quantitative', title: 'x axis' },
    y: { field: 'y', type: 'quantitative', title: 'y axis' },
  },
} as const;

describe('renderVegaLite', () => {
  it('renders a static SVG document headless, with the axis titles as text and one mark per datum', async () => {
    const svg = await renderVegaLite(spec);
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('xmlns="http://www.w3.org/2000/svg"');
    expect(svg).toContain('>x axis</text>');
    expect(svg).toContain('>y axis</text>');
    expect(svg).toContain('>Two points</text>');
    expect(svg.match(/<path [^>]*aria-roledescription="point"/g)).toHaveLength(2);
    // Static: nothing fetched when the file is opened (no scripts, no external references).
    expect(svg).not.toMatch(/<script|href="http|url\(http/);
  });

  it('is deterministic: the same spec gives the same bytes', async () => {
    expect(await renderVegaLite(spec)).toBe(await renderVegaLite(structuredClone(spec)));
  });

  it('rejects a spec Vega-Lite cannot compile', async () => {
    await expect(renderVegaLite({ mark: 'no-such-mark' } as never)).rejects.toThrow();
  });
});
