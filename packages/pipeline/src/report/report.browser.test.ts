// The report in a real browser: Debian's chromium, driven by playwright-core, opening the file
// from file:// as a user would. CI (`.ci/run`) installs chromium and sets FUSECHAT_REQUIRE_BROWSER=1,
// so there a missing browser fails the test instead of skipping it.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type Browser, chromium, type Locator, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AlignmentRecord, PipelineResults } from '../results/pipeline-results.js';
import { buildAlignmentRecord } from './build-alignment-record.js';
import { type AlignmentFixture, createAlignmentFixture } from './testing/alignment-fixture.js';
import { realisticResults } from './testing/results-fixture.js';
import { writeReport } from './write-report.js';

const executablePath = process.env.FUSECHAT_CHROMIUM || '/usr/bin/chromium';
const truthy = (value: string | undefined) =>
  value !== undefined && value !== '' && value !== '0' && value !== 'false';
const required = truthy(process.env.CI) || process.env.FUSECHAT_REQUIRE_BROWSER === '1';
const available = existsSync(executablePath);
const missing = `chromium not found at ${executablePath} (apt-get install -y chromium, or set FUSECHAT_CHROMIUM)`;
if (!available && !required)
  console.warn(`[report.browser.test] ${missing}: the report's browser test is skipped`);

/** What a page did while it was open: console errors, uncaught errors, requests, dialogs. */
interface PageLog {
  readonly consoleErrors: string[];
  readonly pageErrors: string[];
  readonly requests: string[];
  readonly dialogs: string[];
}

async function openReport(browser: Browser, path: string): Promise<{ page: Page; log: PageLog }> {
  const page = await browser.newPage();
  const log: PageLog = { consoleErrors: [], pageErrors: [], requests: [], dialogs: [] };
  page.on('console', (message) => {
    if (message.type() === 'error' || message.type() === 'warning') log.consoleErrors.push(message.text());
  });
  page.on('pageerror', (error) => log.pageErrors.push(String(error)));
  page.on('request', (request) => log.requests.push(request.url()));
  page.on('dialog', (dialog) => {
    log.dialogs.push(dialog.message());
    void dialog.dismiss();
  });
  await page.goto(pathToFileURL(path).href, { waitUntil: 'load' });
  return { page, log };
}

/** How the viewer's panel names each rule. */
const RULE_PREFIX = {
  'one-to-one': 'one-to-one',
  'many-to-one': 'many-to-one',
  'one-hot': 'fallback one-hot',
  'pivot-fallback': 'pivot-fallback',
} as const;

/** The numeric `attribute` of every element the locator finds, in document order. */
async function positionsOf(locator: Locator, attribute: string): Promise<number[]> {
  const values: number[] = [];
  for (const element of await locator.all()) values.push(Number(await element.getAttribute(attribute)));
  return values;
}

/** A computed style property of the element the locator finds (evaluated in the page). */
function styleOf(locator: Locator, property: string): Promise<string> {
  return locator.evaluate(
    (node, name) =>
      (
        globalThis as unknown as { getComputedStyle(element: unknown): Record<string, string> }
      ).getComputedStyle(node)[name]!,
    property,
  );
}

describe.skipIf(!available && !required)('the HTML report in headless chromium', () => {
  let fixture: AlignmentFixture | undefined;
  let alignment: AlignmentRecord;
  let results: PipelineResults;
  let root: string;
  let browser: Browser | undefined;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'fusechat-report-browser-'));
    fixture = await createAlignmentFixture();
    alignment = await buildAlignmentRecord({
      source: 'llama',
      pivotStorePath: fixture.pivotStorePath,
      sourceStorePath: fixture.sourceStorePath,
      alignedStorePath: fixture.alignedStorePath,
      vocabularyMapPath: fixture.vocabularyMapPath,
      pivotTokenizer: fixture.pivotTokenizer,
      sourceTokenizer: fixture.sourceTokenizer,
      mapping: 'exact',
      samples: 4,
    });
    results = realisticResults([alignment]);
    if (available) browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] });
  });
  afterAll(async () => {
    await browser?.close();
    fixture?.cleanup();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  const launched = (): Browser => {
    if (browser === undefined)
      throw new Error(`${missing}: the browser test is required here (CI or FUSECHAT_REQUIRE_BROWSER=1)`);
    return browser;
  };

  it('chromium is installed (required on CI)', () => {
    expect(available, missing).toBe(true);
  });

  it('opens from file:// without console or page errors and fetches nothing', async () => {
    const { path } = await writeReport(results, join(root, 'run'));
    const { page, log } = await openReport(launched(), path);
    try {
      expect(await page.title()).toBe('fusechat run: demo <fusion> & "friends"');
      // Clicking around must not produce errors either.
      await page.locator('.pivot-tokens .token').first().click();
      await page.locator('.source-tokens .token').first().click();
      expect(log.consoleErrors).toEqual([]);
      expect(log.pageErrors).toEqual([]);
      expect(log.dialogs).toEqual([]);
      expect(log.requests.length).toBeGreaterThan(0);
      expect(log.requests.filter((url) => !url.startsWith('file://'))).toEqual([]);
    } finally {
      await page.close();
    }
  });

  it('shows the results table with the control as the baseline, and switches perplexity and loss', async () => {
    const { path } = await writeReport(results, join(root, 'run'));
    const { page } = await openReport(launched(), path);
    try {
      const rows = page.locator('#results-table tbody tr');
      expect(await rows.count()).toBe(7);
      const control = page.locator('#results-table tr.control');
      expect(await control.getAttribute('data-model')).toBe('control');
      expect(await control.locator('.badge.baseline').textContent()).toContain('honest baseline');
      // Highlighted: the control's cells are not on a white background.
      const background = await styleOf(control.locator('td').nth(2), 'backgroundColor');
      expect(background).toBe('rgb(255, 248, 197)');
      expect(await page.locator('#verdict').getAttribute('data-status')).toBe('beat');
      expect(await page.locator('#verdict').textContent()).toContain(
        'Fusion beat the CLM-only control: fused has',
      );
      const firstCell = page.locator('#results-table tbody tr').first().locator('td').nth(2);
      expect(await firstCell.locator('.ppl').isVisible()).toBe(true);
      expect(await firstCell.locator('.loss').isVisible()).toBe(false);
      await page.locator('input[name="results-measure"][value="loss"]').check();
      expect(await firstCell.locator('.loss').isVisible()).toBe(true);
      expect(await firstCell.locator('.loss').textContent()).toBe('5.100');
      expect(await firstCell.locator('.ppl').isVisible()).toBe(false);
    } finally {
      await page.close();
    }
  });

  it('draws the loss curves and the merge weights as visible SVG with marks', async () => {
    const { path } = await writeReport(results, join(root, 'run'));
    const { page } = await openReport(launched(), path);
    try {
      const curves = page.locator('#training figure.loss-curve svg');
      expect(await curves.count()).toBe(3);
      for (let index = 0; index < 3; index++) {
        const box = (await curves.nth(index).boundingBox())!;
        expect(box.width).toBeGreaterThan(200);
        expect(box.height).toBeGreaterThan(100);
        // One line per series: loss, clm and (targets) fusion.
        expect(await curves.nth(index).locator('[aria-roledescription="line mark"]').count()).toBeGreaterThan(
          0,
        );
      }
      expect(await page.locator('#training figure.loss-curve').first().getAttribute('data-model')).toBe(
        'control',
      );
      const merge = page.locator('#merge figure.merge-weights svg');
      expect(await merge.count()).toBe(1);
      expect((await merge.boundingBox())!.width).toBeGreaterThan(300);
      // A point per layer tensor and model (4 layers × 9 tensors × 2 targets), bars for the rest.
      expect(await merge.locator('[aria-roledescription="point"]').count()).toBe(72);
      await page.locator('#merge details summary').click();
      expect(await page.locator('#merge table.heat tbody tr').count()).toBe(39);
    } finally {
      await page.close();
    }
  });

  it('the alignment viewer shows a pivot position’s aligned source tokens, rule and top entries', async () => {
    const { path } = await writeReport(results, join(root, 'run'));
    const { page } = await openReport(launched(), path);
    try {
      const sampleIndex = alignment.samples.findIndex((sample) =>
        sample.positions.some((position) => position.rule === 'many-to-one'),
      );
      const sample = alignment.samples[sampleIndex]!;
      const i = sample.positions.findIndex((position) => position.rule === 'many-to-one');
      const position = sample.positions[i]!;
      const block = page.locator(`#alignment-sample-${sampleIndex}`);
      if (sampleIndex > 0) await block.locator('summary').click();
      await block.locator(`.pivot-tokens .token[data-i="${i}"]`).click();
      const panel = block.locator('.alignment-detail');
      expect(await panel.textContent()).toContain(`pivot position ${i}`);
      expect(await panel.textContent()).toContain('rule: many-to-one');
      expect(await panel.locator('table.top-entries tr').count()).toBe(position.top.length + 1);
      expect(await panel.locator('table.top-entries td.mono').first().textContent()).toBe(
        position.top[0]!.token,
      );
      const linked = await positionsOf(block.locator('.source-tokens .token.linked'), 'data-j');
      expect(linked).toEqual(position.sourcePositions);
      expect(position.sourcePositions.length).toBeGreaterThan(1);

      // From a source token: the pivot positions aligned to it.
      const j = position.sourcePositions[0]!;
      await block.locator(`.source-tokens .token[data-j="${j}"]`).click();
      const pivots = await positionsOf(block.locator('.pivot-tokens .token.linked'), 'data-i');
      expect(pivots).toEqual(
        sample.positions.flatMap((entry, index) => (entry.sourcePositions.includes(j) ? [index] : [])),
      );

      // Keyboard: Enter on a focused pivot token.
      const next = (i + 1) % sample.positions.length;
      await block.locator(`.pivot-tokens .token[data-i="${next}"]`).focus();
      await page.keyboard.press('Enter');
      expect(await panel.textContent()).toContain(`pivot position ${next}`);
      expect(await panel.textContent()).toContain(`rule: ${RULE_PREFIX[sample.positions[next]!.rule]}`);

      // Filters dim the tokens of a rule.
      const oneToOne = block.locator('.pivot-tokens .token.rule-one-to-one').first();
      expect(await styleOf(oneToOne, 'opacity')).toBe('1');
      await block.locator('input.rule-filter[value="one-to-one"]').uncheck();
      expect(await styleOf(oneToOne, 'opacity')).toBe('0.2');

      // Token strings with markup characters are text: `Ġ<` is a token, not a tag.
      expect(await page.locator('.pivot-tokens .token', { hasText: /^Ġ<$/ }).count()).toBeGreaterThan(0);
      expect(await page.locator('img, iframe, object').count()).toBe(0);
    } finally {
      await page.close();
    }
  });

  it('hostile strings in the results stay text: no script runs, no dialog opens', async () => {
    const hostile = '"><script>alert(1)</script><img src=x onerror=alert(2)>';
    const { path } = await writeReport(
      {
        ...results,
        name: hostile,
        samples: [{ prompt: hostile, completions: [{ model: hostile, text: `</pre>${hostile}` }] }],
      },
      join(root, 'hostile'),
    );
    const { page, log } = await openReport(launched(), path);
    try {
      expect(await page.locator('#samples pre.prompt').textContent()).toBe(hostile);
      expect(await page.locator('img').count()).toBe(0);
      expect(log.dialogs).toEqual([]);
      expect(log.pageErrors).toEqual([]);
      expect(log.consoleErrors).toEqual([]);
    } finally {
      await page.close();
    }
  });
});
