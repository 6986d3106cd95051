import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BackendSelection } from '@fusechat/backend';
import { analysePipelineConfig } from '@fusechat/pipeline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeAcceleration } from './describe-acceleration.js';
import { chooseBackend, type PreparedRecipe, prepareRecipe, type RecipeResult, runRecipe } from './main.js';
import { writeTinyPipeline } from './write-tiny-pipeline.js';

const selection = (
  name: BackendSelection['name'],
  attempts: BackendSelection['attempts'],
): BackendSelection => ({
  name,
  attempts,
});

describe('describeAcceleration', () => {
  it('says the GPU computes only when libtensorflow registered a GPU device', () => {
    const gpu = selection('tensorflow-gpu', [{ name: 'tensorflow-gpu', ok: true }]);
    expect(describeAcceleration(gpu, { isUsingGpuDevice: true })).toEqual({
      gpu: true,
      notice: 'GPU: @tensorflow/tfjs-node-gpu, libtensorflow on its first CUDA device',
    });
    // The CUDA 12 machine: the package loads, libcudart.so.11.0 does not, libtensorflow uses the CPU.
    const cpuFallback = describeAcceleration(gpu, { isUsingGpuDevice: false });
    expect(cpuFallback.gpu).toBe(false);
    expect(cpuFallback.notice).toMatch(
      /^no GPU: .* computes on the CPU \(it needs .*CUDA 11\.2 and cuDNN 8\.1/,
    );
    expect(describeAcceleration(gpu, {}).gpu).toBe(false);
  });

  it('names why tensorflow-gpu was passed over and what computes instead', () => {
    const fallback = selection('wasm', [
      { name: 'tensorflow-gpu', ok: false, reason: 'not installed (add @tensorflow/tfjs-node-gpu)' },
      { name: 'tensorflow', ok: false, reason: 'not installed (add @tensorflow/tfjs-node)' },
      { name: 'wasm', ok: true, reason: 'SIMD, 2 threads' },
    ]);
    expect(describeAcceleration(fallback)).toEqual({
      gpu: false,
      notice: 'no GPU (tensorflow-gpu: not installed (add @tensorflow/tfjs-node-gpu)): computing on wasm',
    });
    expect(describeAcceleration(selection('cpu', [{ name: 'cpu', ok: true }])).notice).toBe(
      'no GPU (tensorflow-gpu not requested): computing on cpu',
    );
  });
});

function resolvable(name: string): boolean {
  try {
    createRequire(import.meta.url).resolve(name);
    return true;
  } catch {
    return false;
  }
}

describe('the recipe config', () => {
  it('pipeline.yml (the GPU recipe) is a valid pipeline config', () => {
    const dir = join(import.meta.dirname, '..');
    const analysis = analysePipelineConfig(readFileSync(join(dir, 'pipeline.yml'), 'utf8'), { baseDir: dir });
    expect(analysis.problems).toEqual([]);
    expect(analysis.config?.sources.map((source) => [source.name, source.kind])).toEqual([
      ['smollm2', 'local'],
      ['qwen-7b', 'remote'],
    ]);
    expect(analysis.config?.merge.method).toBe('variation_ratio');
  });
});

describe('example: the whole pipeline on the CPU at tiny size', () => {
  let root: string;
  let configPath: string;
  let prepared: PreparedRecipe;
  let first: RecipeResult;
  const lines: string[] = [];

  beforeAll(async () => {
    await chooseBackend({ backend: 'auto', log: (line) => lines.push(line) });
    root = await mkdtemp(join(tmpdir(), 'fusechat-example-pipeline-'));
    configPath = await writeTinyPipeline(root);
    prepared = await prepareRecipe(configPath, { backend: 'auto', log: (line) => lines.push(line) });
  }, 300_000);

  afterAll(async () => {
    if (root) await rm(root, { recursive: true, force: true });
  });

  it.skipIf(resolvable('@tensorflow/tfjs-node-gpu'))(
    'falls back from tensorflow-gpu with a notice saying it is not installed',
    () => {
      expect(prepared.backend.name).not.toBe('tensorflow-gpu');
      expect(prepared.acceleration.gpu).toBe(false);
      const notice = lines.find((line) => line.startsWith('[fusechat] backend: '));
      expect(notice, lines.join('\n')).toMatch(
        /tensorflow-gpu: not installed \(add @tensorflow\/tfjs-node-gpu/,
      );
      expect(prepared.acceleration.notice).toMatch(
        new RegExp(`^no GPU \\(tensorflow-gpu: not installed .*\\): computing on ${prepared.backend.name}$`),
      );
      expect(lines).toContain(`[fusechat] ${prepared.acceleration.notice}`);
    },
  );

  it('the tiny config loads: three models of two tokenizers, paths resolved next to it', () => {
    const { config } = prepared;
    expect(config.name).toBe('tiny-fusion');
    expect(config.runDir).toBe(join(root, 'tiny-fusion.run'));
    expect(config.sources.map((source) => [source.name, source.mapping])).toEqual([
      ['moby', 'exact'],
      ['qwen', 'statistics'],
    ]);
    expect(existsSync(join(config.pivot.model, 'model.safetensors'))).toBe(true);
  });

  it('runs every stage and writes the results, the report and a manifest per stage', async () => {
    first = await runRecipe(configPath, { backend: 'auto', log: (line) => lines.push(line) });
    const ids = first.results.stages.map((stage) => stage.id);
    expect(ids).toEqual(
      expect.arrayContaining([
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
      ]),
    );
    for (const stage of first.results.stages) {
      expect(stage.status, stage.id).toBe('complete');
      expect(stage.reused, stage.id).toBe(false);
      expect(existsSync(join(first.runDir, stage.id, 'stage.json')), stage.id).toBe(true);
    }
    const onDisk = JSON.parse(readFileSync(join(first.runDir, 'results.json'), 'utf8'));
    expect(onDisk.name).toBe('tiny-fusion');
    expect(readFileSync(join(first.runDir, 'report', 'index.html'), 'utf8')).toMatch(/<html/i);
    const models = new Set(first.results.evaluation.map((row) => row.model));
    // The sources are scored too (on their own tokenizers), beside the pivot-shaped models.
    expect([...models].sort()).toEqual(
      ['control', 'merged', 'moby', 'pivot', 'qwen', 'target-moby', 'target-qwen'].sort(),
    );
    expect(first.results.machine.backend).toBe(first.backend.name);
    for (const row of first.results.evaluation) {
      expect(Number.isFinite(row.perplexity), `${row.model}/${row.split}`).toBe(true);
      expect(row.tokens).toBeGreaterThan(0);
    }
    expect(lines.some((line) => line.includes('held-out perplexity'))).toBe(true);
    // Planned first: the prediction covers every stage and is kept for the report.
    expect(first.results.plan?.stages.map((stage) => stage.id)).toEqual(
      expect.arrayContaining(['capture/pivot', 'merge']),
    );
    expect(existsSync(join(first.runDir, 'plan.json'))).toBe(true);
  }, 900_000);

  it('a rerun of the same config reuses every stage', async () => {
    const again = await runRecipe(configPath, { backend: 'auto', log: () => {} });
    expect(again.results.stages.filter((stage) => !stage.reused).map((stage) => stage.id)).toEqual([]);
  }, 300_000);
});
