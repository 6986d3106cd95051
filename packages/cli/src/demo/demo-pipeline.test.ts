import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadPipelineConfig } from '@fusechat/pipeline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { documentSplit } from './demo-domains.js';
import { type DemoPipelineFiles, writeDemoPipeline } from './demo-pipeline.js';
import { DEMO_TEACHERS, demoTeachersDirectory } from './demo-teachers.js';

describe('writeDemoPipeline', () => {
  let out: string;
  let files: DemoPipelineFiles;

  beforeAll(async () => {
    out = await mkdtemp(join(tmpdir(), 'fusechat-demo-pipeline-'));
    files = await writeDemoPipeline(out, {
      fusionExamples: 6,
      evalExamples: 3,
      validation: true,
      targetSteps: 2,
    });
  }, 120_000);

  afterAll(async () => {
    if (out) await rm(out, { recursive: true, force: true });
  });

  it('writes a config that fusechat run accepts, with three sources and per-domain test splits', async () => {
    const config = await loadPipelineConfig(files.config);
    expect(config.pivot.model).toBe(join(out, 'teachers', 'pivot'));
    expect(config.sources.map((source) => [source.name, source.mapping])).toEqual([
      ['moby-dick', 'exact'],
      ['email', 'exact'],
      ['sotu', 'statistics'],
    ]);
    expect(config.data.test.map((split) => split.name)).toEqual(['moby-dick', 'sotu', 'email']);
    expect(config.data.validation.map((split) => split.name)).toEqual(['moby-dick', 'sotu', 'email']);
    expect(config.training.control).toBe(true);
    expect(config.runDir).toBe(join(out, 'run'));
  });

  it('data come from disjoint documents: fusion documents for training, held-out ones for evaluation', async () => {
    const ids = async (file: string) =>
      (await readFile(join(out, 'data', file), 'utf8'))
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { id: string; messages: { role: string }[] })
        .map((line) => {
          expect(line.messages.map((m) => m.role)).toEqual(['user', 'assistant']);
          return line.id.split('/').slice(0, -1).join('/');
        });
    const fusion = await ids('fusion-train.jsonl');
    expect(fusion).toHaveLength(18);
    // Interleaved: every batch of three holds all three domains.
    expect(fusion.slice(0, 3).map((id) => id.split('/')[0])).toEqual(['moby-dick', 'sotu', 'email']);
    for (const id of fusion) expect(documentSplit(id)).toBe('fusion');
    for (const domain of ['moby-dick', 'sotu', 'email']) {
      for (const id of await ids(`test-${domain}.jsonl`)) expect(documentSplit(id)).toBe('test');
      for (const id of await ids(`validation-${domain}.jsonl`)) expect(documentSplit(id)).toBe('validation');
    }
    expect(files.counts).toMatchObject({ 'fusion-train': 18, 'test-sotu': 3, 'validation-email': 3 });
    expect(files.samplePrompts).toHaveLength(3);
  });

  it('materialises every committed teacher as a complete checkpoint; the weights fit 40 MB in bf16', async () => {
    let committedBytes = 0;
    for (const teacher of DEMO_TEACHERS) {
      const dir = join(out, 'teachers', teacher.name);
      expect((await readdir(dir)).sort()).toEqual(
        [
          'config.json',
          'generation_config.json',
          'model.safetensors',
          'tokenizer.json',
          'tokenizer_config.json',
        ].sort(),
      );
      const config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'));
      expect([config.model_type, config.hidden_size, config.torch_dtype]).toEqual([
        teacher.config.modelType,
        teacher.config.hiddenSize,
        'bfloat16',
      ]);
      const tokenizerConfig = JSON.parse(await readFile(join(dir, 'tokenizer_config.json'), 'utf8'));
      expect(tokenizerConfig.chat_template).toContain("'Assistant: '");
      for (const file of await readdir(join(demoTeachersDirectory(), teacher.name)))
        committedBytes += (await stat(join(demoTeachersDirectory(), teacher.name, file))).size;
    }
    expect(committedBytes).toBeLessThanOrEqual(40e6);
    expect(new Set(DEMO_TEACHERS.map((t) => t.config.modelType)).size).toBe(3);
    expect(new Set(DEMO_TEACHERS.map((t) => t.tokenizer)).size).toBe(2);
  });
});
