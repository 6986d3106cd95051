import { describe, expect, it } from 'vitest';
import { type LossCurveRow, renderLossCurve } from './render-loss-curve.js';

/** A strict little XML parser: throws on anything not well formed (unbalanced tags, bad attributes). */
interface XmlElement {
  name: string;
  attributes: Record<string, string>;
  children: XmlElement[];
  text: string;
}

function parseXml(source: string): XmlElement {
  const root: XmlElement = { name: '#document', attributes: {}, children: [], text: '' };
  const stack: XmlElement[] = [root];
  const tag = /<(\/?)([A-Za-z_][\w:.-]*)((?:\s+[\w:.-]+="[^"<]*")*)\s*(\/?)>/y;
  const attribute = /\s+([\w:.-]+)="([^"<]*)"/g;
  let index = 0;
  while (index < source.length) {
    const next = source.indexOf('<', index);
    const text = source.slice(index, next === -1 ? source.length : next);
    if (/[<>]/.test(text) || /&(?!(?:amp|lt|gt|quot|apos|#\d+|#x[\da-f]+);)/i.test(text)) {
      throw new Error(`bad text at ${index}`);
    }
    stack.at(-1)!.text += text;
    if (next === -1) break;
    if (source.startsWith('<?', next) || source.startsWith('<!--', next)) {
      const end = source.indexOf(source.startsWith('<?', next) ? '?>' : '-->', next);
      if (end === -1) throw new Error(`unterminated at ${next}`);
      index = end + 2;
      continue;
    }
    tag.lastIndex = next;
    const match = tag.exec(source);
    if (!match) throw new Error(`bad tag at ${next}: ${source.slice(next, next + 40)}`);
    const [, closing, name, attributeText, selfClosing] = match;
    if (closing) {
      const open = stack.pop();
      if (open?.name !== name || stack.length === 0) throw new Error(`</${name}> closes <${open?.name}>`);
    } else {
      const element: XmlElement = { name: name!, attributes: {}, children: [], text: '' };
      for (const [, key, value] of attributeText!.matchAll(attribute)) {
        if (key! in element.attributes) throw new Error(`duplicate attribute ${key}`);
        element.attributes[key!] = value!;
      }
      stack.at(-1)!.children.push(element);
      if (!selfClosing) stack.push(element);
    }
    index = tag.lastIndex;
  }
  if (stack.length !== 1) throw new Error(`unclosed <${stack.at(-1)!.name}>`);
  if (root.children.length !== 1) throw new Error('not exactly one root element');
  return root.children[0]!;
}

function all(element: XmlElement, predicate: (element: XmlElement) => boolean): XmlElement[] {
  const found = predicate(element) ? [element] : [];
  for (const child of element.children) found.push(...all(child, predicate));
  return found;
}

function byClass(element: XmlElement, className: string): XmlElement[] {
  return all(element, (node) => (node.attributes.class ?? '').split(' ').includes(className));
}

function texts(element: XmlElement, className: string): string[] {
  return byClass(element, className).flatMap((group) =>
    all(group, (node) => node.name === 'text').map((node) => node.text),
  );
}

/** Line paths by series name (from the aria-label vega gives every mark). */
function lines(svg: XmlElement): Map<string, { x: number; y: number }[]> {
  const result = new Map<string, { x: number; y: number }[]>();
  for (const group of byClass(svg, 'mark-line')) {
    for (const path of all(group, (node) => node.name === 'path')) {
      const series = /series: ([^;]+)$/.exec(path.attributes['aria-label'] ?? '')?.[1];
      const d = path.attributes.d ?? '';
      // A one-point line is `M x,y Z`.
      expect(d).toMatch(/^M[\d.,L-]+Z?$/);
      const points = d
        .replace(/^M|Z$/g, '')
        .split('L')
        .map((pair) => pair.split(',').map(Number) as [number, number])
        .map(([x, y]) => ({ x, y }));
      result.set(series!, points);
    }
  }
  return result;
}

function fusionRows(steps: number, evalEvery: number): LossCurveRow[] {
  const rows: LossCurveRow[] = [];
  for (let step = 1; step <= steps; step++) {
    rows.push({ step, loss: 3 / Math.sqrt(step), clm: 3.3 / Math.sqrt(step), fusion: 2 / Math.sqrt(step) });
    if (step % evalEvery === 0) rows.push({ step, eval_loss: 3.6 / Math.sqrt(step) });
  }
  return rows;
}

describe('renderLossCurve', () => {
  it('draws train, CLM, fusion and eval loss against the step as a well-formed SVG with titled axes', async () => {
    const svg = parseXml(await renderLossCurve(fusionRows(37, 10)));
    expect(svg.name).toBe('svg');
    expect(svg.attributes.xmlns).toBe('http://www.w3.org/2000/svg');

    expect(texts(svg, 'role-axis-title')).toEqual(['optimizer step', 'loss (nats per supervised token)']);
    expect(texts(svg, 'role-title-text')).toEqual(['Training loss']);
    expect(texts(svg, 'role-legend-label')).toEqual(['train loss', 'train CLM', 'train fusion', 'eval loss']);

    const series = lines(svg);
    expect([...series.keys()]).toEqual(['train loss', 'train CLM', 'train fusion', 'eval loss']);
    expect(series.get('train loss')).toHaveLength(37);
    expect(series.get('train CLM')).toHaveLength(37);
    expect(series.get('train fusion')).toHaveLength(37);
    expect(series.get('eval loss')).toHaveLength(3);
    // Eval points are drawn where eval ran.
    const points = byClass(svg, 'mark-symbol').filter((group) =>
      group.attributes.class?.includes('role-mark'),
    );
    expect(points).toHaveLength(1);
    expect(all(points[0]!, (node) => node.name === 'path')).toHaveLength(3);

    // Data mapped, not just drawn: steps go right, a falling loss goes down the screen (SVG y grows
    // downwards), and CLM (the largest value at every step) is the highest curve.
    const train = series.get('train loss')!;
    for (let index = 1; index < train.length; index++) {
      expect(train[index]!.x).toBeGreaterThan(train[index - 1]!.x);
      expect(train[index]!.y).toBeGreaterThan(train[index - 1]!.y);
    }
    const clm = series.get('train CLM')!;
    const fusion = series.get('train fusion')!;
    for (let index = 0; index < train.length; index++) {
      expect(clm[index]!.y).toBeLessThan(train[index]!.y);
      expect(fusion[index]!.y).toBeGreaterThan(train[index]!.y);
    }
    // Step 10 of the eval line sits at the same x as step 10 of the train line.
    expect(series.get('eval loss')![0]!.x).toBeCloseTo(train[9]!.x, 6);
  });

  it('puts evenly spaced, whole-number ticks on the step axis and even ticks on the loss axis', async () => {
    const svg = parseXml(await renderLossCurve(fusionRows(37, 10)));
    const [stepLabels, lossLabels] = byClass(svg, 'role-axis-label').map((group) =>
      all(group, (node) => node.name === 'text').map((node) => Number(node.text)),
    );
    for (const labels of [stepLabels!, lossLabels!]) {
      expect(labels.length).toBeGreaterThanOrEqual(3);
      const spacing = labels[1]! - labels[0]!;
      for (let index = 1; index < labels.length; index++) {
        expect(labels[index]! - labels[index - 1]!).toBeCloseTo(spacing, 9);
      }
    }
    expect(stepLabels!.every(Number.isInteger)).toBe(true);
    expect(stepLabels![0]).toBe(0);
    expect(stepLabels!.at(-1)).toBeGreaterThanOrEqual(37);
    // A short run still gets whole steps, not 0.5 ticks.
    const short = parseXml(
      await renderLossCurve([
        { step: 1, loss: 2 },
        { step: 2, loss: 1.5 },
        { step: 3, loss: 1.2 },
      ]),
    );
    const shortSteps = all(byClass(short, 'role-axis-label')[0]!, (node) => node.name === 'text').map(
      (node) => Number(node.text),
    );
    expect(shortSteps.every(Number.isInteger)).toBe(true);
  });

  it('leaves out series a plain CLM run does not have, and non-finite or missing values', async () => {
    const rows: LossCurveRow[] = [
      { step: 1, loss: 2.5 },
      { step: 2, loss: Number.NaN },
      { step: 3, loss: 2.1, clm: null, fusion: null },
      { step: 3, eval_loss: 2.4 },
      { step: 4, loss: Number.POSITIVE_INFINITY },
      { step: 5, loss: 1.9 },
    ];
    const svg = parseXml(await renderLossCurve(rows, { title: 'CLM control' }));
    expect(texts(svg, 'role-legend-label')).toEqual(['train loss', 'eval loss']);
    expect(texts(svg, 'role-title-text')).toEqual(['CLM control']);
    const series = lines(svg);
    expect([...series.keys()]).toEqual(['train loss', 'eval loss']);
    expect(series.get('train loss')).toHaveLength(3);
    expect(series.get('eval loss')).toHaveLength(1);
  });

  it('renders an empty run as axes only, still well formed', async () => {
    const svg = parseXml(await renderLossCurve([]));
    expect(texts(svg, 'role-axis-title')).toEqual(['optimizer step', 'loss (nats per supervised token)']);
    expect(lines(svg).size).toBe(0);
  });

  it('the test parser refuses malformed XML (so the checks above can fail)', () => {
    expect(() => parseXml('<svg><g></svg>')).toThrow();
    expect(() => parseXml('<svg a="1" a="2"/>')).toThrow();
    expect(() => parseXml('<svg>a < b</svg>')).toThrow();
    expect(() => parseXml('<svg>a & b</svg>')).toThrow();
    expect(parseXml('<svg><g a="1"/>x &amp; y</svg>').text).toBe('x &amp; y');
  });
});
