import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FuseChatError } from '@fusechat/core';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { describeFailure, runCli } from './run-cli.js';

const dir = mkdtempSync(join(tmpdir(), 'fusechat-run-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the CLI and returns its exit code and everything it wrote to stderr. */
async function run(argv: string[]): Promise<{ code: number; stderr: string }> {
  const write = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    const code = await runCli(argv);
    return { code, stderr: write.mock.calls.map((call) => String(call[0])).join('') };
  } finally {
    write.mockRestore();
  }
}

const ONE_LINE = /^fusechat: [^\n]+ \[[A-Z][A-Z0-9_]+\]\n$/;

describe('runCli', () => {
  it('returns 0 for a subcommand --help instead of exiting the process', async () => {
    const write = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      expect(await runCli(['merge', '--help'])).toBe(0);
      expect(await runCli(['demo', '--help'])).toBe(0);
      expect(write.mock.calls.map((call) => String(call[0])).join('')).toContain('--target-steps');
    } finally {
      write.mockRestore();
    }
  });

  it('returns 2 for usage errors of a subcommand and of the program', async () => {
    const write = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      expect(await runCli(['merge', 'config.yml'])).toBe(2); // --out missing
      expect(await runCli(['no-such-command'])).toBe(2);
      expect(await runCli(['demo', '--backend', 'tpu'])).toBe(2);
    } finally {
      write.mockRestore();
    }
  });

  it('returns 2 with one line for invalid option values', async () => {
    const write = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      expect(await runCli(['demo', '--target-steps', 'many'])).toBe(2);
      const output = write.mock.calls.map((call) => String(call[0])).join('');
      expect(output).toBe(
        'fusechat: --target-steps: "many" is not a positive integer. [CLI_INVALID_NUMBER]\n',
      );
    } finally {
      write.mockRestore();
    }
  });

  it('ends every usage error in exactly one coded line, exit 2', async () => {
    for (const argv of [
      ['merge', 'config.yml'],
      ['no-such-command'],
      ['demo', '--backend', 'tpu'],
      ['eval', '--bogus'],
    ]) {
      const { code, stderr } = await run(argv);
      expect(code, argv.join(' ')).toBe(2);
      expect(stderr, argv.join(' ')).toMatch(ONE_LINE);
      expect(stderr).toContain('[CLI_USAGE]');
    }
  });

  it('answers a FIFO where a file is expected at once, and YAML errors in one line', async () => {
    const fifo = join(dir, 'config.fifo');
    execFileSync('mkfifo', [fifo]);
    const pipe = await run(['merge', fifo, '--out', join(dir, 'out')]);
    expect(pipe).toEqual({ code: 1, stderr: expect.stringMatching(ONE_LINE) });
    expect(pipe.stderr).toContain('[INPUT_NOT_A_FILE]');
    const yamlPath = join(dir, 'bad.yml');
    writeFileSync(yamlPath, 'models: [\n a');
    const yaml = await run(['merge', yamlPath, '--out', join(dir, 'out')]);
    expect(yaml.stderr).toMatch(ONE_LINE);
    expect(yaml.stderr).toContain(`${yamlPath}:2:`);
    expect(yaml.stderr).toContain('[MERGE_CONFIG_YAML]');
  });

  it('prints the stack (with causes) only with --verbose', async () => {
    const empty = join(dir, 'empty-model');
    mkdirSync(empty, { recursive: true });
    const quiet = await run(['eval', '--model', empty, '--data', 'x.jsonl']);
    expect(quiet.stderr).toMatch(ONE_LINE);
    expect(quiet.stderr).toContain('[MODEL_CONFIG_NOT_FOUND]');
    const verbose = await run(['eval', '--model', empty, '--data', 'x.jsonl', '--verbose']);
    expect(verbose.stderr.split('\n')[0]).toBe(quiet.stderr.trimEnd());
    expect(verbose.stderr).toMatch(/\n\s+at .*read-input-file/);
    expect(verbose.stderr).toContain('caused by:');
  });

  it("gives errors that are not fusechat's own one coded line too", () => {
    const system = Object.assign(new Error('EMFILE: too many open files'), { code: 'EMFILE' });
    expect(describeFailure(system)).toEqual({
      problems: [],
      line: 'EMFILE: too many open files [SYSTEM_EMFILE]',
      exitCode: 1,
    });
    expect(describeFailure(new RangeError('Invalid array length')).line).toMatch(/\[RESOURCE_LIMIT\]$/);
    expect(describeFailure(new TypeError('x is not a function')).line).toMatch(
      /^unexpected error: x is not a function .*\[INTERNAL_ERROR\]$/,
    );
    expect(describeFailure(new FuseChatError('SOME_CODE', 'first\n\n  second')).line).toBe(
      'first second [SOME_CODE]',
    );
    expect(
      describeFailure(new FuseChatError('LIST', 'Invalid x.yml (2 problems):\n  - a (line 1)\n  - b')),
    ).toEqual({
      problems: ['  - a (line 1)', '  - b'],
      line: 'Invalid x.yml (2 problems) [LIST]',
      exitCode: 1,
    });
  });
});
