import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isFuseChatError } from '@fusechat/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PipelineFixture, setUpPipelineFixture } from '../run/test-fixtures.js';
import { loadPipelineConfig } from './load-pipeline-config.js';
import { parsePipelineConfig } from './parse-pipeline-config.js';
import { PipelineConfigError } from './pipeline-config-error.js';
import { pipelineConfigJsonSchema } from './pipeline-config-json-schema.js';

describe('loadPipelineConfig', () => {
  let fixture: PipelineFixture;
  const write = (name: string, text: string) => {
    const path = join(fixture.root, name);
    writeFileSync(path, text);
    return path;
  };
  const problemsOf = async (path: string): Promise<readonly string[]> => {
    try {
      await loadPipelineConfig(path);
    } catch (error) {
      expect(error).toBeInstanceOf(PipelineConfigError);
      expect(isFuseChatError(error, 'PIPELINE_CONFIG_INVALID')).toBe(true);
      return (error as PipelineConfigError).problems;
    }
    throw new Error('expected the config to be refused');
  };

  beforeAll(async () => {
    fixture = await setUpPipelineFixture('config', ['pivot', 'moby']);
  });
  afterAll(() => fixture?.cleanup());

  it('resolves paths against the config file and fills defaults', async () => {
    const path = write(
      'good.yml',
      [
        'name: demo',
        'pivot: { model: models/pivot, chat_template: template.jinja }',
        'sources:',
        '  - { name: moby, model: ./models/moby, mapping: exact, chat_template: template.jinja }',
        '  - { name: big, endpoint: "http://gpu:8000", model_name: Qwen/Qwen2.5-7B-Instruct, tokenizer: models/moby, chat_template: template.jinja }',
        'data: { train: data/train.jsonl, test: [{ name: moby, path: data/test.jsonl }] }',
        'training: { lambda: 0.8, fusion: min-ce, max_steps: 3, batch_size: 2 }',
        'merge: { method: variation-ratio }',
      ].join('\n'),
    );
    const config = await loadPipelineConfig(path);
    expect(config.name).toBe('demo');
    expect(config.runDir).toBe(join(fixture.root, 'demo.run'));
    expect(config.seed).toBe(42);
    expect(config.pivot).toMatchObject({ name: 'pivot', model: join(fixture.root, 'models', 'pivot') });
    expect(config.pivot.chatTemplate).toBe(join(fixture.root, 'template.jinja'));
    expect(config.sources[0]).toMatchObject({
      kind: 'local',
      mapping: 'exact',
      model: join(fixture.root, 'models', 'moby'),
    });
    expect(config.sources[1]).toMatchObject({
      kind: 'remote',
      dialect: 'vllm',
      mapping: 'min-edit-distance',
      tokenizer: join(fixture.root, 'models', 'moby'),
    });
    expect(config.data.test).toEqual([{ name: 'moby', path: join(fixture.root, 'data', 'test.jsonl') }]);
    expect(config.capture).toEqual({
      topK: 10,
      maxLength: undefined,
      truncation: 'keep-first',
      batchTokens: 4096,
    });
    expect(config.training.control).toBe(true);
    expect(config.training.trainConfig).toMatchObject({
      lm_loss_weight: 0.8,
      fusion: 'min_ce',
      max_steps: 3,
      per_device_train_batch_size: 2,
      seed: 42,
    });
    expect(config.merge.method).toBe('variation_ratio');
    expect(config.report.samples.decoding).toEqual({
      temperature: 0,
      topP: 1,
      repetitionPenalty: 1,
      noRepeatNgramSize: 0,
      minNewTokens: 0,
      seed: 42,
    });
  });

  it("reads the samples' decoding in transformers' names and refuses values transformers refuses", () => {
    const base = {
      name: 'x',
      pivot: { model: 'p' },
      sources: [{ name: 'a', model: 'a' }],
      data: { train: 't' },
    };
    const samples = {
      prompts: ['Hi'],
      temperature: 0.7,
      top_k: 40,
      top_p: 0.9,
      repetition_penalty: 1.3,
      no_repeat_ngram_size: 3,
      min_new_tokens: 4,
      seed: 5,
    };
    const config = parsePipelineConfig({ ...base, report: { samples } }, { baseDir: '/tmp' });
    expect(config.report.samples.decoding).toEqual({
      temperature: 0.7,
      topK: 40,
      topP: 0.9,
      repetitionPenalty: 1.3,
      noRepeatNgramSize: 3,
      minNewTokens: 4,
      seed: 5,
    });
    const bad = {
      prompts: ['Hi'],
      repetition_penalty: 0,
      no_repeat_ngram_size: 1.5,
      top_p: 0,
      temperature: -1,
    };
    let message = '';
    try {
      parsePipelineConfig({ ...base, report: { samples: bad } }, { baseDir: '/tmp' });
    } catch (error) {
      message = (error as PipelineConfigError).problems.join('\n');
    }
    for (const key of ['repetition_penalty', 'no_repeat_ngram_size', 'top_p', 'temperature']) {
      expect(message).toContain(`report.samples.${key}`);
    }
  });

  it('lists every problem at once, with lines', async () => {
    const path = write(
      'bad.yml',
      [
        'name: demo',
        'colour: blue',
        'pivot: { model: models/pivot }',
        'sources:',
        '  - { name: moby, model: models/moby, mapp: exact }',
        '  - { name: moby, model: ./models/missing }',
        '  - { name: remote, endpoint: "http://gpu:8000" }',
        '  - { name: broken, model: data }',
        'data: { train: data/nope.jsonl }',
        'training: { lr: 0.1, warmup_steps: 9, max_steps: 3 }',
        'merge: { method: variation-ratioo, models: { nobody: { weight: 1 } } }',
      ].join('\n'),
    );
    const problems = await problemsOf(path);
    const text = problems.join('\n');
    expect(text).toMatch(/^colour \(line 2\): unknown key/m);
    expect(text).toMatch(/sources\[0\]\.mapp \(line 5\): unknown key; did you mean "mapping"\?/);
    expect(text).toMatch(/sources\[1\]\.name \(line 6\): "moby" is also the name of sources\[0\]/);
    expect(text).toMatch(/sources\[1\]\.model \(line 6\): .*models\/missing does not exist/);
    expect(text).toMatch(/sources\[2\]\.model_name \(line 7\): required with endpoint/);
    expect(text).toMatch(/sources\[2\]\.tokenizer \(line 7\): required with endpoint/);
    expect(text).toMatch(/sources\[3\]\.model \(line 8\): not a loadable model/);
    expect(text).toMatch(/data\.train \(line 9\): .*nope\.jsonl does not exist/);
    expect(text).toMatch(/training\.lr \(line 10\): unknown key; did you mean "learning_rate"\?/);
    expect(text).toMatch(
      /merge\.method \(line 11\): unknown merge method "variation-ratioo"; did you mean "variation_ratio"\?/,
    );
    expect(text).toMatch(/training\.warmup_steps \(line 10\): 9 warmup steps exceed max_steps \(3\)/);
    expect(problems).toHaveLength(12);
  });

  it('refuses a source whose tokenizer cannot be loaded', async () => {
    const broken = join(fixture.root, 'broken-tokenizer');
    const { mkdirSync, cpSync } = await import('node:fs');
    mkdirSync(broken);
    cpSync(join(fixture.root, 'models', 'moby', 'config.json'), join(broken, 'config.json'));
    writeFileSync(join(broken, 'tokenizer.json'), '{"model": {"type": "nonsense"}}');
    const path = write(
      'tokenizer.yml',
      [
        'name: demo',
        'pivot: { model: models/pivot, chat_template: template.jinja }',
        'sources: [{ name: moby, model: broken-tokenizer }]',
        'data: { train: data/train.jsonl }',
      ].join('\n'),
    );
    const problems = await problemsOf(path);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^sources\[0\]\.model \(line 3\): its tokenizer cannot be loaded/);
  });

  it('refuses an unset api_key_env, remote keys on a local source, a reserved name', async () => {
    const path = write(
      'remote.yml',
      [
        'name: demo',
        'pivot: { model: models/pivot }',
        'sources:',
        '  - { name: big, endpoint: "http://gpu:8000", model_name: m, tokenizer: models/moby, api_key_env: FUSECHAT_TEST_UNSET_KEY }',
        '  - { name: control, model: models/moby, dialect: vllm }',
        'data: { train: data/train.jsonl }',
      ].join('\n'),
    );
    const problems = (await problemsOf(path)).join('\n');
    expect(problems).toMatch(/sources\[0\]\.api_key_env .*FUSECHAT_TEST_UNSET_KEY is not set/);
    expect(problems).toMatch(/sources\[1\]\.name .*reserved/);
    expect(problems).toMatch(/sources\[1\]\.dialect .*goes with endpoint/);
  });

  it('refuses invalid YAML and an unreadable file with their own codes', async () => {
    await expect(loadPipelineConfig(write('syntax.yml', 'name: [unclosed'))).rejects.toMatchObject({
      code: 'PIPELINE_CONFIG_YAML',
    });
    await expect(loadPipelineConfig(join(fixture.root, 'none.yml'))).rejects.toMatchObject({
      code: 'PIPELINE_CONFIG_UNREADABLE',
    });
  });

  it('parses a mapping without touching files, and checks per-target merge parameters', () => {
    expect(() =>
      parsePipelineConfig(
        {
          name: 'x',
          pivot: { model: 'p' },
          sources: [{ name: 'a', model: 'a' }],
          data: { train: 't' },
          merge: { method: 'ties', parameters: { densty: 0.5 }, models: { a: { weight: 1 } } },
        },
        { baseDir: '/tmp' },
      ),
    ).toThrow(/merge\.parameters\.densty: unknown ties parameter "densty"; did you mean "density"\?/);
  });

  it('publishes a JSON Schema with descriptions and strict objects', () => {
    const schema = pipelineConfigJsonSchema() as {
      $id: string;
      properties: Record<string, { description?: string }>;
      additionalProperties: boolean;
      required: string[];
    };
    expect(schema.$id).toMatch(/pipeline-config\.schema\.json$/);
    expect(schema.additionalProperties).toBe(false);
    expect(schema.required).toEqual(expect.arrayContaining(['name', 'pivot', 'sources', 'data']));
    expect(schema.properties.name?.description).toMatch(/run directory/);
    expect(Object.keys(schema.properties)).toEqual(
      expect.arrayContaining(['capture', 'training', 'merge', 'eval', 'report']),
    );
  });
});
