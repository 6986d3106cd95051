import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '@fusechat/backend';
import { loadPipelineConfig, runPipeline } from '@fusechat/pipeline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DemoRun, runDemo } from './run-demo.js';

// The whole demo through `fusechat run`, shrunk: two conversations per domain, one step. Slow
// (a minute or two on 2 cores: four real teachers, one of them with a 151k vocabulary).
describe('runDemo (slow)', () => {
  let out: string;
  let run: DemoRun;
  const lines: string[] = [];

  beforeAll(async () => {
    await initBackend('wasm', { quiet: true });
    out = await mkdtemp(join(tmpdir(), 'fusechat-demo-test-'));
    run = await runDemo({
      out,
      fusionExamples: 2,
      evalExamples: 1,
      targetSteps: 1,
      plan: false,
      log: (line) => lines.push(line),
    });
  }, 900_000);

  afterAll(async () => {
    if (out) await rm(out, { recursive: true, force: true });
  });

  it('runs the pivot, three specialists, a target each, the CLM-only control and the merge', () => {
    const roles = run.results.models.map((model) => [model.name, model.role]);
    expect(roles.filter(([, role]) => role === 'pivot')).toEqual([['pivot', 'pivot']]);
    expect(roles.filter(([, role]) => role === 'source').map(([name]) => name)).toEqual([
      'moby-dick',
      'email',
      'sotu',
    ]);
    expect(roles.filter(([, role]) => role === 'target')).toHaveLength(3);
    expect(roles.filter(([, role]) => role === 'control')).toHaveLength(1);
    expect(roles.filter(([, role]) => role === 'merged')).toHaveLength(1);
    const vocabularies = new Set(run.results.models.map((model) => model.vocabSize));
    expect(vocabularies).toEqual(new Set([32000, 151669]));
    expect(run.results.fusion.map((record) => record.source).sort()).toEqual(['email', 'moby-dick', 'sotu']);
  });

  it('evaluates every model on every domain of the test split', () => {
    for (const model of run.results.models) {
      const rows = run.results.evaluation.filter((row) => row.model === model.name);
      expect(rows.map((row) => row.split).sort()).toEqual(['email', 'moby-dick', 'sotu']);
      for (const row of rows) {
        expect(row.tokens).toBeGreaterThan(0);
        expect(row.perplexity).toBeCloseTo(Math.exp(row.loss), 6);
      }
    }
  });

  it('prints the table, credits fusion against the control only, and shows samples of the pivot, a target and the fused model', async () => {
    const text = run.summary.join('\n');
    expect(text).toMatch(/pivot \(pivot\)/);
    expect(text).toMatch(
      /vs CLM-only control: (better|NOT better|no measurable difference) — mean loss [+−]\d/,
    );
    expect(text).toMatch(/\* scored per token of its own vocabulary/);
    expect(run.results.samples).toHaveLength(3);
    for (const sample of run.results.samples) {
      expect(sample.decoding).toBe(
        'greedy, repetition_penalty 1.3, no_repeat_ngram_size 3, min_new_tokens 8',
      );
      const models = sample.completions.map((completion) => completion.model);
      expect(models).toContain('pivot');
      expect(models.some((name) => name.startsWith('target'))).toBe(true);
      expect(models).toContain(run.results.models.find((model) => model.role === 'merged')!.name);
    }
    expect(lines.some((line) => line.startsWith('data: fusion-train 6,'))).toBe(true);
    expect(JSON.parse(await readFile(join(run.files.runDir, 'results.json'), 'utf8')).name).toBe(
      'fusechat-demo',
    );
    const report = await readFile(join(run.files.runDir, 'report', 'index.html'), 'utf8');
    expect(report).toMatch(/<html/i);
    expect(report).toContain(
      'Decoding: greedy, repetition_penalty 1.3, no_repeat_ngram_size 3, min_new_tokens 8.',
    );
  });

  it('the written pipeline.yml reruns with fusechat run, reusing every stage', async () => {
    const again = await runPipeline(await loadPipelineConfig(run.files.config));
    expect(again.stages.length).toBeGreaterThan(0);
    expect(again.stages.every((stage) => stage.reused)).toBe(true);
    expect(again.evaluation).toEqual(run.results.evaluation);
  }, 300_000);
});
