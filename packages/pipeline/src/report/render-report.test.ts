import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isFuseChatError } from '@fusechat/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AlignmentRecord, PipelineResults } from '../results/pipeline-results.js';
import { buildAlignmentRecord } from './build-alignment-record.js';
import { escapeHtml, jsonForScript, visibleToken } from './html.js';
import { renderReport } from './render-report.js';
import { type AlignmentFixture, createAlignmentFixture } from './testing/alignment-fixture.js';
import { realisticResults } from './testing/results-fixture.js';
import { writeReport } from './write-report.js';

const HOSTILE = '</td><script>alert("x")</script><img src=x onerror=alert(1)>&amp;\'';

/** Every `<script…` opening in the page (ours: the viewer's data blocks and the one script). */
const scriptTags = (page: string) => page.match(/<script\b[^>]*>/g) ?? [];

describe('renderReport', () => {
  let fixture: AlignmentFixture;
  let alignment: AlignmentRecord;
  let results: PipelineResults;
  let page: string;

  beforeAll(async () => {
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
    page = await renderReport(results);
  });
  afterAll(() => fixture?.cleanup());

  it('is one self-contained document: inline style, inline SVG charts, no external reference', () => {
    expect(page.startsWith('<!DOCTYPE html>')).toBe(true);
    expect(page).toContain("default-src 'none'");
    // 3 loss curves + the merge chart, inline.
    expect(page.match(/<svg\b/g)).toHaveLength(4);
    expect(page).not.toMatch(/(?:src|href)="(?:https?:)?\/\//);
    expect(page).not.toMatch(/<link\b|@import|url\(http/);
    // The only script tags are the viewer's 4 JSON blocks and the page script.
    expect(scriptTags(page)).toEqual([
      ...Array(4).fill('<script type="application/json" class="alignment-data">'),
      '<script>',
    ]);
  });

  it('escapes every string of the results: names, prompts, completions, tokens, tensor names', async () => {
    expect(page).toContain('demo &lt;fusion&gt; &amp; &quot;friends&quot;');
    expect(page).toContain('Mr. Speaker, &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;');
    expect(page).toContain('is the &lt;b&gt;people&lt;/b&gt; &amp; &quot;the&quot; &#39;nation&#39;');
    // The alignment fixture's tokens `▁<`, `<`, `script`, `>'` … are text, not markup.
    expect(page).toContain('data-i="4" tabindex="0" role="button"');
    expect(page).toMatch(/>Ġ&lt;<\/span>/);
    const hostile: PipelineResults = {
      ...results,
      name: HOSTILE,
      models: [
        ...results.models,
        { name: HOSTILE, role: 'target', source: HOSTILE, vocabSize: 1, spaceMarker: '▁' },
      ],
      evaluation: [
        ...results.evaluation,
        { model: HOSTILE, split: HOSTILE, loss: 1, perplexity: Math.E, tokens: 1 },
      ],
      training: [
        ...results.training,
        { model: HOSTILE, role: 'target', source: HOSTILE, rows: [{ step: 1, loss: 2 }] },
      ],
      merge: {
        ...results.merge!,
        models: [HOSTILE, 'b'],
        tensorWeights: [{ tensor: HOSTILE, weights: [0.5, 0.5] }],
      },
      samples: [{ prompt: HOSTILE, completions: [{ model: HOSTILE, text: HOSTILE }] }],
      stages: [
        ...results.stages,
        { ...results.stages[0]!, id: HOSTILE, error: { code: 'X', message: HOSTILE } },
      ],
      alignment: [
        {
          ...alignment,
          source: HOSTILE,
          samples: [
            {
              id: HOSTILE,
              pivotTokens: [HOSTILE, '</script>'],
              sourceTokens: ['<!--', HOSTILE],
              positions: [
                {
                  sourcePositions: [0],
                  rule: 'one-to-one',
                  top: [{ token: '</script><script>', probability: 1 }],
                },
                { sourcePositions: [1], rule: 'pivot-fallback', top: [] },
              ],
            },
          ],
        },
      ],
    };
    const bad = await renderReport(hostile);
    expect(bad).not.toContain('<script>alert');
    expect(bad).not.toContain('<img');
    expect(bad).not.toContain('</td><script');
    expect(bad).not.toContain('<!--');
    expect(scriptTags(bad)).toEqual(['<script type="application/json" class="alignment-data">', '<script>']);
    // The JSON block holds no `<` at all, so nothing in it can end the element.
    const json = bad.slice(bad.indexOf('class="alignment-data">') + 23, bad.indexOf('</script>'));
    expect(json).not.toContain('<');
    expect(JSON.parse(json).positions[0][2][0][0]).toBe('</script><script>');
  });

  it('the results table: one row per evaluated model, the control highlighted as the baseline, best per split', () => {
    const rows = page.match(/<tr class="[^"]*" data-model="[^"]*" data-role="[^"]*">/g)!;
    expect(rows.map((row) => row.match(/data-model="([^"]*)"/)![1])).toEqual([
      'pivot',
      'control',
      'target-moby',
      'target-sotu',
      'fused',
      'moby',
      'sotu',
    ]);
    expect(page).toContain('<tr class="control" data-model="control" data-role="control">');
    expect(page).toContain('CLM-only control · honest baseline');
    expect(page).toContain('<tr class="fused" data-model="fused" data-role="merged">');
    // Best on moby is target-moby's 4.41 (the source's own-tokenizer 3.2 is not comparable).
    expect(page).toMatch(
      /<td class="number best" title="loss 4\.41 nats over 4096 tokens"><span class="ppl">82\.27<\/span>/,
    );
    expect(page).toContain('id="verdict" data-status="beat"');
    expect(page).toContain('<strong>Fusion beat the CLM-only control:</strong> fused has');
  });

  it('plan vs reality: ratios per stage, marked against ±30%; reused and tiny stages are not counted', () => {
    // capture/pivot 21.4 s for 19 s planned: 1.126× (within); capture/moby 30.2 / 20 = 1.51× (off).
    expect(page).toMatch(/data-stage="capture\/pivot">[\s\S]*?<td class="number within">1\.13×<\/td>/);
    expect(page).toMatch(/data-stage="capture\/moby">[\s\S]*?<td class="number off">1\.51×<\/td>/);
    expect(page).toMatch(
      /<tr class="reused" data-stage="capture\/sotu"><td class="mono">capture\/sotu<\/td><td>reused<\/td>/,
    );
    expect(page).toMatch(/data-stage="report"><td class="mono">report<\/td><td>not run<\/td>/);
    // eval's 0.1 MiB results file is under the 1 MiB that is judged: shown, not counted.
    expect(page).toMatch(/data-stage="eval">[\s\S]*?<td class="number unjudged" title="too small to judge">/);
    expect(page).toMatch(/\d+ of 26 predictions of stages run now are within it/);
  });

  it('the alignment viewer: rule counts of the whole store and every sample position as a token', () => {
    const total = Object.values(alignment.ruleCounts).reduce((sum, count) => sum + count, 0);
    expect(page).toContain(`Over all ${total} pivot positions of the aligned store.`);
    for (const sample of alignment.samples) {
      const start = page.indexOf(`data-sample-id="${sample.id}"`);
      const block = page.slice(start, page.indexOf('</details>', start));
      expect(block.match(/data-i="\d+"/g)).toHaveLength(sample.pivotTokens.length);
      expect(block.match(/data-j="\d+"/g)).toHaveLength(sample.sourceTokens.length);
    }
  });

  it('leaves out what a run did not make, and says so', async () => {
    const { merge: _merge, plan: _plan, ...rest } = realisticResults();
    const bare: PipelineResults = { ...rest, training: [], samples: [], alignment: [], fusion: [] };
    const text = await renderReport(bare);
    expect(text).toContain('No merge in this run');
    expect(text).toContain('id="no-plan"');
    expect(text).toContain('No model was trained in this run.');
    expect(text).toContain('No samples in this run');
    expect(text).toContain('No source was aligned in this run.');
    expect(text).not.toContain('<svg');
    // The measurements are still shown without a plan.
    expect(text).toMatch(/data-stage="capture\/pivot">[\s\S]*?21\.4 s/);
    const noControl = await renderReport({
      ...bare,
      models: bare.models.filter((model) => model.role !== 'control'),
      evaluation: bare.evaluation.filter((row) => row.model !== 'control'),
    });
    expect(noControl).toContain('data-status="no-control"');
    expect(noControl).not.toContain('honest baseline</span>');
  });

  it('is deterministic', async () => {
    expect(await renderReport(results)).toBe(page);
  });
});

describe('writeReport', () => {
  const roots: string[] = [];
  afterAll(() => {
    for (const root of roots) rmSync(root, { recursive: true, force: true });
  });

  it('writes <runDir>/report/index.html and returns its size; a run dir that is a file is REPORT_WRITE_FAILED', async () => {
    const root = mkdtempSync(join(tmpdir(), 'fusechat-report-write-'));
    roots.push(root);
    const { path, bytes } = await writeReport(realisticResults(), root);
    expect(path).toBe(join(root, 'report', 'index.html'));
    const text = readFileSync(path, 'utf8');
    expect(Buffer.byteLength(text)).toBe(bytes);
    expect(text).toContain('<title>fusechat run: demo &lt;fusion&gt;');
    writeFileSync(join(root, 'not-a-dir'), '');
    await expect(writeReport(realisticResults(), join(root, 'not-a-dir'))).rejects.toSatisfy((error) =>
      isFuseChatError(error, 'REPORT_WRITE_FAILED'),
    );
  });
});

describe('html helpers', () => {
  it('escape markup characters, keep JSON parseable, show invisible characters', () => {
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
    const json = jsonForScript({ token: '</script>&\u2028' }).value;
    expect(json).toBe('{"token":"\\u003c/script\\u003e\\u0026\\u2028"}');
    expect(JSON.parse(json)).toEqual({ token: '</script>&\u2028' });
    expect(visibleToken('a\nb\tc d\u0001')).toBe('a↵b⇥c␣d␁');
    expect(visibleToken('')).toBe('∅');
    expect(visibleToken('▁the')).toBe('▁the');
  });
});
