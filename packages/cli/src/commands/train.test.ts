import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '@fusechat/backend';
import { loadModel } from '@fusechat/model';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCaptured, saveTinyLlama } from '../test-fixtures.js';

// A plain template for the Mistral vocabulary, whose tokenizer_config.json has none.
const TEMPLATE = [
  "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}",
  "{{ 'User: ' + message['content'] + '\\n' }}{% elif message['role'] == 'assistant' %}",
  "{{ 'Assistant: ' + message['content'] + eos_token }}{% endif %}{% endfor %}",
].join('');

const CONVERSATIONS = [
  ['Continue the story: Call me Ishmael.', 'Some years ago, never mind how long precisely.'],
  ['Who is the captain?', 'Ahab, a grand, ungodly, god-like man.'],
  ['Describe the whale.', 'A hump like a snow hill! It is Moby Dick!'],
  ['Where does the voyage start?', 'Nantucket, and from there to the Pacific.'],
  ['What is the ship called?', 'The Pequod, of Nantucket.'],
  ['Who tells the story?', 'Ishmael, a sailor.'],
];

const chatLines = (pairs: readonly (readonly string[])[]) =>
  `${pairs
    .map(([user, assistant], index) =>
      JSON.stringify({
        id: `c${index}`,
        messages: [
          { role: 'user', content: user },
          { role: 'assistant', content: assistant },
        ],
      }),
    )
    .join('\n')}\n`;

describe('fusechat train', () => {
  let root: string;
  const path = (...parts: string[]) => join(root, ...parts);
  const writeConfig = (name: string, text: string) => {
    writeFileSync(path(name), text);
    return path(name);
  };
  const metrics = (dir: string) =>
    readFileSync(join(dir, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, number>);

  beforeAll(async () => {
    await initBackend('cpu', { quiet: true });
    root = mkdtempSync(join(tmpdir(), 'fusechat-cli-train-'));
    await saveTinyLlama(path('pivot'), 3);
    writeFileSync(path('train.jsonl'), chatLines(CONVERSATIONS));
    writeFileSync(path('eval.jsonl'), chatLines(CONVERSATIONS.slice(0, 2)));
    writeFileSync(path('template.jinja'), TEMPLATE);
  }, 120_000);

  afterAll(() => {
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('refuses a bad config with every problem, its path and line, before touching anything', async () => {
    const config = writeConfig(
      'bad.yml',
      [
        'model_name_or_path: pivot',
        'output_dir: out-bad',
        'train_file: train.jsonl',
        'learning_rate: -1',
        'gradient_accumulation_steps: 0',
        'max_steps: 5',
        'warmup_steps: 10',
        'lerning_rate: 1e-3',
        'lora: { r: 4, alpah: 8 }',
      ].join('\n'),
    );
    const run = await runCaptured(['train', config]);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    // Every problem on its own line, then exactly one coded line ends the output.
    expect(run.stderr.endsWith(`\nfusechat: Invalid ${config} (5 problems) [TRAIN_CONFIG_INVALID]\n`)).toBe(
      true,
    );
    for (const line of [
      'learning_rate (line 4): must be ≥ 0, got -1',
      'gradient_accumulation_steps (line 5): must be ≥ 1, got 0',
      'warmup_steps (line 7): 10 warmup steps exceed max_steps (5)',
      'lerning_rate (line 8): unknown key; did you mean "learning_rate"?',
      'lora.alpah (line 9): unknown key; did you mean "alpha"?',
    ]) {
      expect(run.stderr).toContain(`  - ${line}`);
    }
    expect(run.stderr).toContain('[TRAIN_CONFIG_INVALID]');
    expect(existsSync(path('out-bad'))).toBe(false);
  });

  it('refuses unreadable and malformed config files with one line', async () => {
    const missing = await runCaptured(['train', path('missing.yml')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(
      /missing\.yml \(the train config\) does not exist.*\[TRAIN_CONFIG_UNREADABLE\]/,
    );
    const yaml = await runCaptured(['train', writeConfig('syntax.yml', 'model_name_or_path: [pivot\n')]);
    expect(yaml.code).toBe(1);
    expect(yaml.stderr).toContain('[TRAIN_CONFIG_YAML]');
  });

  it('refuses missing data before loading the model or writing output', async () => {
    const run = await runCaptured([
      'train',
      writeConfig(
        'no-store.yml',
        'model_name_or_path: pivot\noutput_dir: out-no-store\npivot_store: capture/none\nmax_steps: 2\n',
      ),
    ]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('[STORE_NOT_FOUND]');
    expect(existsSync(path('out-no-store'))).toBe(false);
  });

  it('shows the config keys in --help', async () => {
    const run = await runCaptured(['train', '--help']);
    expect(run.code).toBe(0);
    for (const key of [
      'model_name_or_path',
      'pivot_store',
      'aligned_stores',
      'lm_loss_weight',
      'train_file',
    ]) {
      expect(run.stdout).toContain(key);
    }
  });

  it('trains plain CLM on chat JSONL: progress, summary, metrics, loss curve, final model; a rerun resumes', async () => {
    const config = writeConfig(
      'clm.yml',
      [
        'model_name_or_path: pivot',
        'output_dir: out-clm',
        'train_file: train.jsonl',
        'eval_file: eval.jsonl',
        'chat_template: template.jinja',
        'per_device_train_batch_size: 2',
        'max_steps: 4',
        'learning_rate: 1.0e-2',
        'lr_scheduler_type: constant',
        'logging_steps: 1',
        'eval_steps: 2',
        'save_steps: 2',
        'seed: 3',
      ].join('\n'),
    );
    const run = await runCaptured(['train', config, '--backend', 'cpu']);
    expect(run.stderr).not.toContain('unexpected');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(
      /^trained 4 steps \(CLM, [\d.]+ epochs\) in .+, .+ tokens\/s; final loss \d+\.\d{4}, best eval loss \d+\.\d{4}; model: .*out-clm.*; metrics: .*metrics\.jsonl; loss curve: .*loss\.svg\n$/,
    );
    // Not a TTY: a line every few seconds, and always the last step.
    expect(run.stderr).toMatch(/^train: step 4\/4 100\.0% loss \d+\.\d{4} lr 1\.00e-2 \S+ tok\/s$/m);

    const out = path('out-clm');
    const rows = metrics(out);
    const trainRows = rows.filter((row) => row.loss !== undefined);
    expect(trainRows.map((row) => row.step)).toEqual([1, 2, 3, 4]);
    expect(rows.filter((row) => row.eval_loss !== undefined).map((row) => row.step)).toEqual([2, 4]);
    expect(trainRows.at(-1)!.loss).toBeLessThan(trainRows[0]!.loss!);
    expect(readFileSync(join(out, 'loss.svg'), 'utf8')).toMatch(/^<svg[\s\S]*<\/svg>$/);
    expect(
      readdirSync(out)
        .filter((name) => name.startsWith('checkpoint-'))
        .sort(),
    ).toEqual(['checkpoint-2', 'checkpoint-4']);
    const model = await loadModel(join(out, 'model'));
    model.dispose();
    // The final model carries the tokenizer it was trained with.
    expect(readFileSync(join(out, 'model', 'tokenizer.json'))).toEqual(
      readFileSync(path('pivot', 'tokenizer.json')),
    );

    // Same command again: the run is complete, nothing is retrained, the same result comes back.
    const again = await runCaptured(['train', config, '--backend', 'cpu', '--json']);
    expect(again.code).toBe(0);
    const result = JSON.parse(again.stdout);
    expect(result).toMatchObject({ steps: 4 });
    expect(metrics(out)).toEqual(rows);
  }, 120_000);

  it('trains with fusion targets from the pivot store on 2 data-parallel replicas and prints --json', async () => {
    const capture = await runCaptured([
      'capture',
      '--model',
      path('pivot'),
      '--data',
      path('train.jsonl'),
      '--out',
      path('capture', 'pivot'),
      '--chat-template',
      path('template.jinja'),
      '--top-k',
      '4',
      '--backend',
      'cpu',
    ]);
    expect(capture.code).toBe(0);
    const run = await runCaptured([
      'train',
      writeConfig(
        'fusion.yml',
        [
          'model_name_or_path: pivot',
          'output_dir: out-fusion',
          'pivot_store: capture/pivot',
          'per_device_train_batch_size: 3',
          'max_steps: 2',
          'learning_rate: 1.0e-2',
          'lm_loss_weight: 0.5',
          'resume_from_checkpoint: false',
        ].join('\n'),
      ),
      '--backend',
      'cpu',
      '--workers',
      '2',
      '--json',
    ]);
    expect(run.stderr).not.toContain('unexpected');
    expect(run.code).toBe(0);
    const result = JSON.parse(run.stdout);
    expect(result).toMatchObject({ steps: 2, workers: 2 });
    const rows = metrics(path('out-fusion')).filter((row) => row.loss !== undefined);
    expect(rows).toHaveLength(2);
    for (const row of rows) {
      // λ·CLM + (1−λ)·fusion, logged term by term.
      expect(row.loss).toBeCloseTo(0.5 * row.clm! + 0.5 * row.fusion!, 4);
    }
  }, 120_000);

  it('refuses warmup longer than the run once the data fixes the step count', async () => {
    const run = await runCaptured([
      'train',
      writeConfig(
        'warmup.yml',
        [
          'model_name_or_path: pivot',
          'output_dir: out-warmup',
          'train_file: train.jsonl',
          'chat_template: template.jinja',
          'per_device_train_batch_size: 2',
          'num_train_epochs: 1',
          'warmup_steps: 50',
        ].join('\n'),
      ),
      '--backend',
      'cpu',
    ]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('warmup_steps (50) exceeds the 3 optimizer steps of this run');
    expect(existsSync(path('out-warmup'))).toBe(false);
  });

  it('refuses a --workers that is neither a positive integer nor auto, before reading the config', async () => {
    const run = await runCaptured(['train', path('no-such-config.yml'), '--workers', 'two']);
    expect(run.code).toBe(2); // a usage error
    expect(run.stderr).toContain('--workers: "two" is not');
  });
});
