import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileFormatError, InvalidInputError, isFuseChatError } from '@fusechat/core';
import { describe, expect, it, onTestFinished } from 'vitest';
import { loadTrainConfig } from './load-train-config.js';
import { parseTrainConfig, type TrainConfigProblem } from './parse-train-config.js';

function problemsOf(input: unknown, options = {}): TrainConfigProblem[] {
  try {
    parseTrainConfig(input, options);
  } catch (error) {
    expect(isFuseChatError(error, 'TRAIN_CONFIG_INVALID')).toBe(true);
    expect(error).toBeInstanceOf(InvalidInputError);
    return (error as InvalidInputError).details.problems as TrainConfigProblem[];
  }
  throw new Error('expected the config to be refused');
}

const FUSION = { model_name_or_path: 'pivot', output_dir: 'out', pivot_store: 'capture/pivot' };

describe('parseTrainConfig', () => {
  it('maps a minimal fusion config onto defaults, with paths resolved against baseDir', () => {
    const config = parseTrainConfig(
      { ...FUSION, aligned_stores: ['align/a', '/abs/align/b'] },
      { baseDir: '/runs/x' },
    );
    expect(config.modelNameOrPath).toBe('/runs/x/pivot');
    expect(config.outputDir).toBe('/runs/x/out');
    expect(config.dataset).toEqual({
      kind: 'fusion',
      pivotStore: '/runs/x/capture/pivot',
      alignedStores: ['/runs/x/align/a', '/abs/align/b'],
      fusion: 'min_ce',
      temperature: 1,
      batchSize: 8,
      batchTokens: undefined,
      maxLength: undefined,
    });
    expect(config.evalDataset).toBeUndefined();
    expect(config.training).toEqual({ learningRate: 5e-5 });
    expect(config.resume).toBe('auto');
    expect(config.warnings).toEqual([]);
  });

  it('maps every HF and FuseChat name onto TrainingOptions', () => {
    const config = parseTrainConfig(`
model_name_or_path: pivot
output_dir: out
pivot_store: capture/pivot
aligned_stores: [align/a]
eval_pivot_store: capture/pivot-eval
eval_aligned_stores: [align/a-eval]
model_max_length: 512
per_device_train_batch_size: 4
per_device_eval_batch_size: 16
batch_tokens: 4096
gradient_accumulation_steps: 2
learning_rate: 2.0e-5
weight_decay: 0.01
adam_beta1: 0.8
adam_beta2: 0.95
adam_epsilon: 1.0e-6
max_steps: 100
lr_scheduler_type: cosine
warmup_steps: 10
max_grad_norm: 0.5
seed: 7
lm_loss_weight: 0.8
fusion: avg_ce
distill_temperature: 2
distill_loss_type: kl
logging_steps: 5
eval_steps: 20
save_steps: 50
save_total_limit: 2
resume_from_checkpoint: false
early_stopping_patience: 3
early_stopping_threshold: 0.001
non_finite: skip
lora: { r: 8, alpha: 16, target_modules: [q_proj, k_proj, v_proj] }
`);
    expect(config.training).toEqual({
      learningRate: 2e-5,
      weightDecay: 0.01,
      adamBeta1: 0.8,
      adamBeta2: 0.95,
      adamEpsilon: 1e-6,
      maxSteps: 100,
      gradientAccumulationSteps: 2,
      warmupSteps: 10,
      lrSchedulerType: 'cosine',
      maxGradNorm: 0.5,
      loggingSteps: 5,
      evalSteps: 20,
      saveSteps: 50,
      saveTotalLimit: 2,
      seed: 7,
      lmLossWeight: 0.8,
      distillLossType: 'kl',
      lora: { r: 8, alpha: 16, targetModules: ['q_proj', 'k_proj', 'v_proj'] },
      nonFinite: 'skip',
      earlyStopping: { patience: 3, threshold: 0.001 },
    });
    expect(config.dataset).toMatchObject({
      kind: 'fusion',
      fusion: 'avg_ce',
      temperature: 2,
      batchSize: 4,
      batchTokens: 4096,
      maxLength: 512,
    });
    expect(config.evalDataset).toEqual({
      kind: 'fusion',
      pivotStore: 'capture/pivot-eval',
      alignedStores: ['align/a-eval'],
      fusion: 'avg_ce',
      temperature: 2,
      batchSize: 16,
      batchTokens: 4096,
      maxLength: 512,
    });
    expect(config.resume).toBe('never');
  });

  it('maps a plain CLM config (train_file, eval_file, chat_template), HF max_steps -1 and LoRA defaults', () => {
    const config = parseTrainConfig(
      {
        model_name_or_path: 'pivot',
        output_dir: 'out',
        train_file: 'train.jsonl',
        eval_file: 'eval.jsonl',
        chat_template: 'template.jinja',
        per_device_train_batch_size: 2,
        max_steps: -1,
        num_train_epochs: 1.5,
        warmup_ratio: 0.1,
        max_grad_norm: null,
        resume_from_checkpoint: 'out/checkpoint-20',
        lora: { r: 4 },
      },
      { baseDir: '/b' },
    );
    expect(config.dataset).toEqual({
      kind: 'chat',
      dataFile: '/b/train.jsonl',
      chatTemplate: '/b/template.jinja',
      batchSize: 2,
      batchTokens: undefined,
      maxLength: undefined,
    });
    expect(config.evalDataset).toMatchObject({ kind: 'chat', dataFile: '/b/eval.jsonl', batchSize: 2 });
    expect(config.training).toEqual({
      learningRate: 5e-5,
      numTrainEpochs: 1.5,
      warmupRatio: 0.1,
      maxGradNorm: null,
      lora: { r: 4, alpha: 4, targetModules: ['q_proj', 'v_proj'] },
    });
    expect(config.resume).toBe('/b/out/checkpoint-20');
  });

  it('reports every problem at once, each with its dotted path and YAML line', () => {
    const problems = problemsOf(`model_name_or_path: pivot
pivot_store: capture/pivot
learning_rate: -1
gradient_accumulation_steps: 0
max_steps: 10
warmup_steps: 20
lr_scheduler_type: cosin
per_device_train_batch_size: 1.5
lerning_rate: 1
lora:
  r: 0
  alpah: 3
`);
    expect(problems).toEqual([
      { path: 'output_dir', message: 'required', line: 1 },
      { path: 'learning_rate', message: 'must be ≥ 0, got -1', line: 3 },
      { path: 'gradient_accumulation_steps', message: 'must be ≥ 1, got 0', line: 4 },
      { path: 'warmup_steps', message: '20 warmup steps exceed max_steps (10)', line: 6 },
      {
        path: 'lr_scheduler_type',
        message:
          'must be one of "linear", "cosine", "constant", "constant_with_warmup", got "cosin"; did you mean "cosine"?',
        line: 7,
      },
      { path: 'per_device_train_batch_size', message: 'must be a whole number, got 1.5', line: 8 },
      { path: 'lerning_rate', message: 'unknown key; did you mean "learning_rate"?', line: 9 },
      { path: 'lora.r', message: 'must be ≥ 1, got 0', line: 11 },
      { path: 'lora.alpah', message: 'unknown key; did you mean "alpha"?', line: 12 },
    ]);
  });

  it('puts every problem in the message, one per line', () => {
    expect(() =>
      parseTrainConfig({ ...FUSION, learning_rate: -0.1, seed: 'x' }, { source: 'train.yml' }),
    ).toThrow(
      'Invalid train.yml (2 problems):\n  - learning_rate: must be ≥ 0, got -0.1\n  - seed: must be a number, got "x"',
    );
  });

  it('refuses impossible values', () => {
    const problems = problemsOf({
      ...FUSION,
      lm_loss_weight: 1.5,
      distill_temperature: 0,
      warmup_ratio: 2,
      max_grad_norm: -1,
      adam_beta2: 1,
      adam_epsilon: 0,
      num_train_epochs: 0,
      max_steps: 0,
      save_total_limit: 0,
      model_max_length: 1,
      aligned_stores: [],
      fusion: '',
      resume_from_checkpoint: 3,
      distill_loss_type: 'mse',
    });
    expect(Object.fromEntries(problems.map((entry) => [entry.path, entry.message]))).toEqual({
      lm_loss_weight: 'must be ≤ 1, got 1.5',
      distill_temperature: 'must be > 0, got 0',
      warmup_ratio: 'must be ≤ 1, got 2',
      max_grad_norm: 'must be ≥ 0, got -1',
      adam_beta2: 'must be < 1, got 1',
      adam_epsilon: 'must be > 0, got 0',
      num_train_epochs: 'must be > 0, got 0',
      max_steps: 'must be ≥ 1, got 0',
      save_total_limit: 'must be ≥ 1, got 0',
      model_max_length: 'must be ≥ 2, got 1',
      fusion: 'must not be empty',
      resume_from_checkpoint: 'must be a boolean or a string, got 3',
      distill_loss_type: 'must be one of "ce", "kl", got "mse"',
    });
  });

  it("explains unknown keys: typos, other tools' names, HF options fusechat does not take", () => {
    const problems = problemsOf({ ...FUSION, lr: 1e-4, fp16: true, lora_alpha: 16, warmup_step: 3, zzz: 1 });
    expect(Object.fromEntries(problems.map((entry) => [entry.path, entry.message]))).toEqual({
      lr: 'unknown key; did you mean "learning_rate"?',
      fp16: 'unknown key (a TrainingArguments option fusechat train does not take: the tensor backend picks the precision (fusechat trains in float32)); remove it',
      lora_alpha: 'unknown key; did you mean "lora.alpha"?',
      warmup_step: 'unknown key; did you mean "warmup_steps"?',
      zzz: 'unknown key',
    });
  });

  it('refuses contradictory or incomplete data settings', () => {
    expect(problemsOf({ model_name_or_path: 'p', output_dir: 'o' })).toEqual([
      {
        path: 'pivot_store',
        message:
          'no training data: give pivot_store (and aligned_stores) for fusion training, or train_file for plain CLM',
        line: undefined,
      },
    ]);
    const problems = problemsOf({
      ...FUSION,
      train_file: 't.jsonl',
      eval_file: 'e.jsonl',
      eval_pivot_store: 'e',
      aligned_stores: ['a', 'capture/pivot', 'a'],
    });
    expect(problems.map((entry) => `${entry.path}: ${entry.message}`)).toEqual([
      'train_file: give either train_file (plain CLM) or pivot_store (fusion training), not both',
      'eval_file: give either eval_file or eval_pivot_store, not both',
      'aligned_stores[1]: "capture/pivot" is the pivot store itself, not a source aligned onto it',
      'aligned_stores[2]: "a" is listed twice',
    ]);
    expect(
      problemsOf({
        model_name_or_path: 'p',
        output_dir: 'o',
        train_file: 't',
        aligned_stores: ['a'],
        eval_aligned_stores: ['b'],
        eval_steps: 10,
        early_stopping_patience: 2,
        early_stopping_threshold: 0.1,
      }).map((entry) => entry.path),
    ).toEqual(['aligned_stores', 'eval_aligned_stores', 'eval_steps', 'early_stopping_patience']);
    expect(
      problemsOf({ ...FUSION, eval_pivot_store: 'e', early_stopping_threshold: 0.1 }).map(
        (entry) => entry.path,
      ),
    ).toEqual(['early_stopping_threshold']);
  });

  it('checks fusion against the registry names, with a suggestion', () => {
    expect(problemsOf({ ...FUSION, fusion: 'min-ce' })).toEqual([
      {
        path: 'fusion',
        message: 'unknown fusion function "min-ce"; did you mean "min_ce"? (known: min_ce, avg_ce)',
        line: undefined,
      },
    ]);
    expect(
      parseTrainConfig({ ...FUSION, fusion: 'pivot_only' }, { fusionNames: ['min_ce', 'pivot_only'] })
        .dataset,
    ).toMatchObject({
      fusion: 'pivot_only',
    });
  });

  it('warns about settings that have no effect', () => {
    expect(
      parseTrainConfig({
        model_name_or_path: 'p',
        output_dir: 'o',
        train_file: 't',
        lm_loss_weight: 0.5,
        distill_temperature: 2,
        max_steps: 5,
        num_train_epochs: 2,
        warmup_steps: 1,
        warmup_ratio: 0.5,
        per_device_eval_batch_size: 3,
      }).warnings,
    ).toEqual([
      'per_device_eval_batch_size has no effect without eval data',
      'lm_loss_weight has no effect on plain CLM training (train_file)',
      'distill_temperature has no effect on plain CLM training (train_file)',
      'num_train_epochs has no effect: max_steps is set',
      'warmup_ratio has no effect: warmup_steps is set',
    ]);
    expect(parseTrainConfig({ ...FUSION, chat_template: 'x.jinja' }).warnings).toEqual([
      'chat_template has no effect: stores are rendered already (it applies to train_file and eval_file)',
    ]);
  });

  it('refuses YAML that does not parse, or is not a mapping', () => {
    let error: unknown;
    try {
      parseTrainConfig('model_name_or_path: p\noutput_dir: [o\n', { source: 'bad.yml' });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(FileFormatError);
    expect((error as FileFormatError).code).toBe('TRAIN_CONFIG_YAML');
    expect((error as FileFormatError).message).toMatch(/^bad\.yml:\d+: not valid YAML/);
    expect(() => parseTrainConfig('- a\n- b\n')).toThrow('must be a mapping');
    expect(() => parseTrainConfig('')).toThrow('got nothing');
    expect(() => parseTrainConfig(null)).toThrow('got nothing');
  });
});

describe('loadTrainConfig', () => {
  it('resolves paths against the file and names it in problems', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fusechat-train-config-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'train.yml');
    writeFileSync(file, 'model_name_or_path: pivot\noutput_dir: out\ntrain_file: data/train.jsonl\n');
    const config = await loadTrainConfig(file);
    expect(config.modelNameOrPath).toBe(join(dir, 'pivot'));
    expect(config.dataset).toMatchObject({ kind: 'chat', dataFile: join(dir, 'data/train.jsonl') });

    writeFileSync(file, 'model_name_or_path: pivot\noutput_dir: out\ntrain_file: t\nseed: -1\n');
    await expect(loadTrainConfig(file)).rejects.toThrow(
      `Invalid ${file} (1 problem):\n  - seed (line 4): must be ≥ 0, got -1`,
    );
    await expect(loadTrainConfig(join(dir, 'missing.yml'))).rejects.toMatchObject({
      code: 'TRAIN_CONFIG_UNREADABLE',
    });
  });
});
