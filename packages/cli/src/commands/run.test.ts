import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '@fusechat/backend';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { describeFailure } from '../run-cli.js';
import { saveTinyLlama } from '../test-fixtures.js';
import { registerRunCommand } from './run.js';

const TEMPLATE = [
  "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}",
  "{{ 'User: ' + message['content'] + '\\n' }}{% elif message['role'] == 'assistant' %}",
  "{{ 'Assistant: ' + message['content'] + eos_token }}{% endif %}{% endfor %}",
].join('');

async function runCommand(argv: string[]): Promise<{ stdout: string; error: unknown }> {
  const program = new Command('fusechat').exitOverride();
  registerRunCommand(program);
  const stdout: string[] = [];
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout.push(String(chunk));
    return true;
  });
  const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return { stdout: stdout.join(''), error: undefined };
  } catch (error) {
    return { stdout: stdout.join(''), error };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}

describe('fusechat run', () => {
  let root: string;
  beforeAll(async () => {
    await initBackend('cpu', { quiet: true });
    root = mkdtempSync(join(tmpdir(), 'fusechat-cli-run-'));
    await saveTinyLlama(join(root, 'pivot'), 3);
    await saveTinyLlama(join(root, 'moby'), 9);
    writeFileSync(join(root, 'template.jinja'), TEMPLATE);
    const line = (user: string, assistant: string) =>
      JSON.stringify({
        messages: [
          { role: 'user', content: user },
          { role: 'assistant', content: assistant },
        ],
      });
    writeFileSync(
      join(root, 'train.jsonl'),
      `${line('Who is the captain?', 'Ahab.')}\n${line('The whale?', 'White.')}\n`,
    );
  }, 120_000);
  afterAll(() => {
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('lists every problem of a bad config in one PIPELINE_CONFIG_INVALID error', async () => {
    const path = join(root, 'bad.yml');
    writeFileSync(
      path,
      [
        'name: x',
        'pivot: { model: pivot, colour: red }',
        'sources: [{ name: a, model: nowhere }, { name: a, model: moby }]',
        'data: { train: train.jsonl }',
      ].join('\n'),
    );
    const { error } = await runCommand(['run', path, '--backend', 'cpu']);
    const report = describeFailure(error);
    expect(report.line).toMatch(/\[PIPELINE_CONFIG_INVALID\]$/);
    expect(report.problems.join('\n')).toMatch(/pivot\.colour \(line 2\): unknown key/);
    expect(report.problems.join('\n')).toMatch(/sources\[0\]\.model \(line 3\): .*nowhere does not exist/);
    expect(report.problems.join('\n')).toMatch(
      /sources\[1\]\.name \(line 3\): "a" is also the name of sources\[0\]/,
    );
    expect(report.problems.join('\n')).toMatch(/pivot\.model .*no chat template/);
    expect(report.exitCode).toBe(1);
  });

  it('runs a one-source pipeline on 2 training replicas, prints the table, and skips everything on a rerun without them', async () => {
    const path = join(root, 'pipeline.yml');
    writeFileSync(
      path,
      [
        'name: cli',
        'pivot: { model: pivot, chat_template: template.jinja }',
        'sources: [{ name: moby, model: moby, mapping: exact, chat_template: template.jinja }]',
        'data: { train: train.jsonl, test: [{ name: moby, path: train.jsonl }] }',
        'capture: { top_k: 3, max_length: 32 }',
        'training: { max_steps: 1, batch_size: 2, control: false }',
      ].join('\n'),
    );
    const first = await runCommand(['run', path, '--backend', 'cpu', '--workers', '2']);
    expect(first.error).toBeUndefined();
    // capture ×2, align, train, eval and — from the default hooks — the report; planned first.
    expect(first.stdout).toMatch(/^cli: 6 stage\(s\) ran in .* 0 up to date/);
    expect(first.stdout).toMatch(/target-moby +\d+\.\d\d/);
    expect(existsSync(join(root, 'cli.run', 'results.json'))).toBe(true);
    expect(readFileSync(join(root, 'cli.run', 'report', 'index.html'), 'utf8')).toContain('<svg');
    const plan = JSON.parse(readFileSync(join(root, 'cli.run', 'plan.json'), 'utf8')) as {
      stages: { id: string; seconds: number }[];
    };
    expect(plan.stages.map((stage) => stage.id)).toContain('capture/moby');
    expect(plan.stages.every((stage) => Number.isFinite(stage.seconds) && stage.seconds >= 0)).toBe(true);
    const trained = JSON.parse(readFileSync(join(root, 'cli.run', 'train', 'moby', 'stage.json'), 'utf8'));
    expect(trained.summary).toMatchObject({ steps: 1, workers: 2 });
    // The replica count is a runtime choice, not an input: the rerun below without it skips everything.
    const second = await runCommand(['run', path, '--backend', 'cpu', '--json']);
    const results = JSON.parse(second.stdout) as { stages: { reused: boolean }[] };
    expect(results.stages.map((stage) => stage.reused)).toEqual([true, true, true, true, true, true]);
    expect(JSON.parse(readFileSync(join(root, 'cli.run', 'results.json'), 'utf8'))).toEqual(results);
  });
});
