import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '@fusechat/backend';
import { isFuseChatError } from '@fusechat/core';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { saveTinyLlama } from '../test-fixtures.js';
import { registerPlanCommand } from './plan.js';

const TEMPLATE = [
  "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}",
  "{{ 'User: ' + message['content'] + '\\n' }}{% elif message['role'] == 'assistant' %}",
  "{{ 'Assistant: ' + message['content'] + eos_token }}{% endif %}{% endfor %}",
].join('');

const chatLines = (count: number) =>
  `${Array.from({ length: count }, (_, index) =>
    JSON.stringify({
      id: `c${index}`,
      messages: [
        { role: 'user', content: `Question ${index}: where does the voyage start?` },
        { role: 'assistant', content: `Nantucket${', and then the Pacific'.repeat(1 + (index % 5))}.` },
      ],
    }),
  ).join('\n')}\n`;

/** Runs `fusechat plan …` on a program with only this command; stdout and the error, if any. */
async function runPlan(argv: string[]): Promise<{ stdout: string; error: unknown }> {
  const program = new Command('fusechat').exitOverride();
  registerPlanCommand(program);
  const stdout: string[] = [];
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout.push(String(chunk));
    return true;
  });
  const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    await program.parseAsync(['plan', ...argv], { from: 'user' });
    return { stdout: stdout.join(''), error: undefined };
  } catch (error) {
    return { stdout: stdout.join(''), error };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}

describe('fusechat plan', () => {
  let root: string;
  let config: string;

  beforeAll(async () => {
    await initBackend('wasm', { quiet: true });
    root = mkdtempSync(join(tmpdir(), 'fusechat-cli-plan-'));
    await saveTinyLlama(join(root, 'pivot'), 1);
    await saveTinyLlama(join(root, 'moby'), 2);
    writeFileSync(join(root, 'template.jinja'), TEMPLATE);
    writeFileSync(join(root, 'train.jsonl'), chatLines(24));
    writeFileSync(join(root, 'test.jsonl'), chatLines(3));
    config = join(root, 'pipeline.yml');
    writeFileSync(
      config,
      [
        'name: tiny',
        'pivot: { name: pivot, model: ./pivot, chat_template: ./template.jinja }',
        'sources:',
        '  - { name: moby, model: ./moby, mapping: exact, chat_template: ./template.jinja }',
        'data:',
        '  train: ./train.jsonl',
        '  test: [{ name: moby, path: ./test.jsonl }]',
        'capture: { top_k: 4, max_length: 64 }',
        'training: { max_steps: 3, batch_size: 4, control: true }',
        '',
      ].join('\n'),
    );
  }, 120_000);

  afterAll(() => {
    rmSync(root, { recursive: true, force: true });
  });

  it('prints a table of every stage with totals, and the same as JSON', async () => {
    const table = await runPlan([config, '--sample-tokens', '256', '--training-steps', '1']);
    expect(table.error).toBeUndefined();
    for (const id of [
      'capture/pivot',
      'capture/moby',
      'align/moby',
      'train/moby',
      'train/control',
      'eval',
      'report',
    ])
      expect(table.stdout).toContain(id);
    expect(table.stdout).toMatch(/^total\s/m);

    const json = await runPlan([config, '--json', '--sample-tokens', '256', '--training-steps', '1']);
    expect(json.error).toBeUndefined();
    const plan = JSON.parse(json.stdout) as {
      fits: boolean;
      stages: { id: string; diskBytes: number; seconds: number; peakMemoryBytes: number; basis: string }[];
      totals: { diskBytes: number };
    };
    expect(plan.fits).toBe(true);
    expect(plan.stages.map((stage) => stage.id)).toEqual([
      'capture/pivot',
      'capture/moby',
      'align/moby',
      'train/moby',
      'train/control',
      'eval',
      'report',
    ]);
    expect(plan.totals.diskBytes).toBe(plan.stages.reduce((sum, stage) => sum + stage.diskBytes, 0));
  }, 240_000);

  it('fails with PIPELINE_PLAN_DOES_NOT_FIT naming the stage and the shortfall when the disk is too small', async () => {
    const result = await runPlan([
      config,
      '--disk-limit',
      '100KB',
      '--sample-tokens',
      '256',
      '--training-steps',
      '1',
    ]);
    expect(isFuseChatError(result.error, 'PIPELINE_PLAN_DOES_NOT_FIT')).toBe(true);
    const shortfalls = (
      result.error as { shortfalls: { stage: string; resource: string; shortfallBytes: number }[] }
    ).shortfalls;
    expect(shortfalls[0]!.resource).toBe('disk');
    expect(shortfalls[0]!.shortfallBytes).toBeGreaterThan(0);
    expect((result.error as Error).message).toContain(`${shortfalls[0]!.stage}: disk`);
    // The table is still printed.
    expect(result.stdout).toContain('capture/pivot');
  }, 240_000);

  it('refuses a size that is not one', async () => {
    const result = await runPlan([config, '--memory-limit', 'lots']);
    expect(isFuseChatError(result.error, 'CLI_INVALID_SIZE')).toBe(true);
  });
});
