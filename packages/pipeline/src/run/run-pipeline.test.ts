import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger, ProgressEvent } from '@fusechat/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPipelineConfig } from '../config/load-pipeline-config.js';
import type { PipelineResults } from '../results/pipeline-results.js';
import { readStageManifest } from '../run-directory/stage-manifest.js';
import { runPipeline } from './run-pipeline.js';
import { type PipelineFixture, setUpPipelineFixture } from './test-fixtures.js';

function collectingLogger(lines: string[]): Logger {
  const push = (message: string) => lines.push(message);
  return { debug: () => {}, info: push, warn: push, error: push };
}

function pipelineYaml(sources: readonly string[], extra: readonly string[] = []): string {
  const entries: Record<string, string> = {
    moby: '  - { name: moby, model: models/moby, mapping: exact, chat_template: template.jinja }',
    qwen: '  - { name: qwen, model: models/qwen, mapping: exact }',
    pirate: '  - { name: pirate, model: models/pirate, mapping: exact, chat_template: template.jinja }',
  };
  return [
    'name: tiny',
    'seed: 7',
    'pivot: { name: pivot, model: models/pivot, chat_template: template.jinja }',
    'sources:',
    ...sources.map((name) => entries[name]!),
    'data: { train: data/train.jsonl, test: [{ name: moby, path: data/test.jsonl }] }',
    'capture: { top_k: 4, max_length: 64 }',
    ...(extra.some((line) => line.startsWith('training:'))
      ? []
      : ['training: { max_steps: 2, batch_size: 2, learning_rate: 0.01, save_steps: 1 }']),
    'report: { samples: { prompts: ["Who is the captain?"], max_new_tokens: 3 } }',
    ...extra,
  ].join('\n');
}

describe('runPipeline', () => {
  let fixture: PipelineFixture;
  let first: PipelineResults;
  const configPath = () => join(fixture.root, 'pipeline.yml');
  const runDir = () => join(fixture.root, 'tiny.run');
  const run = async (
    yaml: string,
    lines: string[] = [],
    signal?: AbortSignal,
    onProgress?: (event: ProgressEvent) => void,
  ) => {
    writeFileSync(configPath(), yaml);
    const config = await loadPipelineConfig(configPath());
    return runPipeline(config, {
      log: collectingLogger(lines),
      signal,
      onProgress,
      report: async (results, dir) => {
        writeFileSync(join(dir, 'report', 'index.html'), `<p>${results.name}</p>`);
      },
    });
  };
  const ran = (results: PipelineResults) =>
    results.stages.filter((stage) => !stage.reused).map((stage) => stage.id);

  const stageMtimes = () =>
    Object.fromEntries(
      first.stages.map((stage) => [stage.id, statSync(join(runDir(), stage.id, 'stage.json')).mtimeMs]),
    );
  const TWO = ['moby', 'qwen'] as const;

  beforeAll(async () => {
    fixture = await setUpPipelineFixture('run', ['pivot', 'moby', 'qwen', 'pirate']);
  });
  afterAll(() => fixture?.cleanup());

  it('runs every stage on two tokenizers and writes results.json', async () => {
    const lines: string[] = [];
    first = await run(pipelineYaml(['moby', 'qwen']), lines);
    expect(ran(first)).toEqual([
      'capture/pivot',
      'capture/moby',
      'capture/qwen',
      'align/moby',
      'align/qwen',
      'train/moby',
      'train/qwen',
      'train/control',
      'merge',
      'eval',
      'report',
    ]);
    expect(first.stages.every((stage) => stage.status === 'complete')).toBe(true);
    expect(JSON.parse(readFileSync(join(runDir(), 'results.json'), 'utf8'))).toEqual(first);
    expect(first.models.map((model) => [model.name, model.role, model.spaceMarker])).toEqual([
      ['pivot', 'pivot', '▁'],
      ['moby', 'source', '▁'],
      ['qwen', 'source', 'Ġ'],
      ['target-moby', 'target', '▁'],
      ['target-qwen', 'target', '▁'],
      ['control', 'control', '▁'],
      ['merged', 'merged', '▁'],
    ]);
    const models = new Set(first.evaluation.map((row) => row.model));
    expect([...models]).toEqual(['pivot', 'moby', 'qwen', 'target-moby', 'target-qwen', 'control', 'merged']);
    for (const row of first.evaluation) {
      expect(row.split).toBe('moby');
      expect(row.tokens).toBeGreaterThan(0);
      expect(row.perplexity).toBeCloseTo(Math.exp(row.loss), 6);
    }
    expect(first.training.map((curve) => [curve.model, curve.rows.map((row) => row.step)])).toEqual([
      ['target-moby', [1, 2]],
      ['target-qwen', [1, 2]],
      ['control', [1, 2]],
    ]);
    expect(first.training[0]!.rows[0]!.fusion).toBeTypeOf('number');
    expect(first.training[2]!.rows[0]!.fusion).toBeUndefined();
    expect(first.merge?.method).toBe('variation_ratio');
    expect(first.merge?.models).toEqual(['moby', 'qwen']);
    for (const { weights } of first.merge!.tensorWeights) {
      expect(weights).toHaveLength(2);
      expect(weights[0]! + weights[1]!).toBeCloseTo(1, 6);
    }
    expect(first.samples).toHaveLength(1);
    expect(first.samples[0]!.completions.map((entry) => entry.model)).toEqual([...models]);
    expect(first.fusion.map((entry) => entry.examples)).toEqual([4, 4]);
    expect(first.alignment.map((entry) => entry.source)).toEqual(['moby', 'qwen']);
    for (const dir of [
      'capture/pivot/store',
      'align/qwen/store',
      'align/qwen/vocabulary-map.json',
      'train/moby/model',
      'merge/model',
      'merge/merge-report.json',
      'eval/evaluation.json',
      'report/index.html',
    ]) {
      expect(existsSync(join(runDir(), dir)), dir).toBe(true);
    }
    const manifest = await readStageManifest(join(runDir(), 'align', 'qwen', 'stage.json'));
    expect(manifest).toMatchObject({ id: 'align/qwen', kind: 'align', status: 'complete' });
    expect(Object.keys(manifest!.inputs)).toEqual(['pivotCapture', 'sourceCapture']);
    expect(lines.some((line) => line.startsWith('[capture/pivot] '))).toBe(true);
    // Every stage of a real pipeline: ≈60 s alone on 2 cores, over 120 s beside the rest of the
    // suite on a slow day (CI 2026-12-07); the later tests build on its run directory.
  }, 300_000);

  it('skips every stage on a rerun of the same config', async () => {
    const before = stageMtimes();
    const lines: string[] = [];
    const again = await run(pipelineYaml(TWO), lines);
    expect(ran(again)).toEqual([]);
    expect(again.stages.every((stage) => stage.reused && stage.status === 'complete')).toBe(true);
    expect(stageMtimes()).toEqual(before);
    expect(again.evaluation).toEqual(first.evaluation);
    expect(lines.filter((line) => line.endsWith('skipped'))).toHaveLength(11);
  });

  it('reruns exactly what a changed input feeds: test data → eval, report', async () => {
    writeFileSync(
      join(fixture.root, 'data', 'test.jsonl'),
      `${readFileSync(join(fixture.root, 'data', 'test.jsonl'), 'utf8')}${JSON.stringify({
        messages: [
          { role: 'user', content: 'Hi' },
          { role: 'assistant', content: 'Ahoy there.' },
        ],
      })}\n`,
    );
    const lines: string[] = [];
    const changed = await run(pipelineYaml(TWO), lines);
    expect(ran(changed)).toEqual(['eval', 'report']);
    expect(lines.some((line) => line.startsWith('[eval] inputs changed (test/moby)'))).toBe(true);
    expect(changed.evaluation[0]!.tokens).toBeGreaterThan(first.evaluation[0]!.tokens);
  });

  it('adding a source runs only its capture, align and train, then merge, eval, report', async () => {
    const before = stageMtimes();
    const added = await run(pipelineYaml([...TWO, 'pirate']));
    expect(ran(added)).toEqual(['capture/pirate', 'align/pirate', 'train/pirate', 'merge', 'eval', 'report']);
    const after = stageMtimes();
    for (const id of Object.keys(before)) {
      if (!['merge', 'eval', 'report'].includes(id)) expect(after[id], id).toBe(before[id]);
    }
    expect(added.merge?.models).toEqual(['moby', 'qwen', 'pirate']);
  });

  it('a failing stage names itself, leaves the others intact, and a killed train stage resumes', async () => {
    const before = stageMtimes();
    // A merge the engine refuses (TIES density above 1): only the merge stage fails.
    const failing = run(
      pipelineYaml([...TWO, 'pirate'], ['merge: { method: ties, parameters: { density: 5 } }']),
    );
    await expect(failing).rejects.toMatchObject({ code: 'PIPELINE_STAGE_FAILED', stage: 'merge' });
    expect(await readStageManifest(join(runDir(), 'merge', 'stage.json'))).toMatchObject({
      status: 'failed',
    });
    const after = stageMtimes();
    for (const id of Object.keys(before))
      if (id.startsWith('train/') || id.startsWith('capture/')) expect(after[id], id).toBe(before[id]);
    expect(existsSync(join(runDir(), 'train', 'moby', 'model', 'model.safetensors'))).toBe(true);

    // New training settings: the train stages rerun; kill train/moby after its first step.
    const training = ['training: { max_steps: 3, batch_size: 2, learning_rate: 0.02, save_steps: 1 }'];
    const controller = new AbortController();
    const killed = run(pipelineYaml([...TWO, 'pirate'], training), [], controller.signal, (event) => {
      if (event.task === 'train/moby' && event.completed >= 1) controller.abort();
    });
    await expect(killed).rejects.toMatchObject({
      code: 'PIPELINE_STAGE_FAILED',
      stage: 'train/moby',
      causeCode: 'TRAIN_ABORTED',
    });
    expect(await readStageManifest(join(runDir(), 'train', 'moby', 'stage.json'))).toMatchObject({
      status: 'failed',
    });
    const lines: string[] = [];
    const resumed = await run(pipelineYaml([...TWO, 'pirate'], training), lines);
    const manifest = await readStageManifest(join(runDir(), 'train', 'moby', 'stage.json'));
    expect(manifest).toMatchObject({ status: 'complete', summary: { steps: 3 } });
    expect((manifest!.summary as { resumedFrom: number }).resumedFrom).toBeGreaterThanOrEqual(1);
    expect(lines.some((line) => line.startsWith('[train/moby] resuming the failed attempt'))).toBe(true);
    expect(ran(resumed)).toEqual([
      'train/moby',
      'train/qwen',
      'train/pirate',
      'train/control',
      'merge',
      'eval',
      'report',
    ]);
  });

  it('refuses a run directory of another pipeline', async () => {
    writeFileSync(configPath(), pipelineYaml(TWO).replace('name: tiny', 'name: other\nrun_dir: tiny.run'));
    const config = await loadPipelineConfig(configPath());
    await expect(runPipeline(config)).rejects.toMatchObject({ code: 'PIPELINE_RUN_DIR_MISMATCH' });
  });
});
