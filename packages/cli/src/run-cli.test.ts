import { describe, expect, it, vi } from 'vitest';
import { runCli } from './run-cli.js';

describe('runCli', () => {
  it('returns 0 for a subcommand --help instead of exiting the process', async () => {
    const write = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      expect(await runCli(['merge', '--help'])).toBe(0);
      expect(await runCli(['demo', '--help'])).toBe(0);
      expect(write.mock.calls.map((call) => String(call[0])).join('')).toContain('--source-steps');
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

  it('returns 1 with one line for invalid option values', async () => {
    const write = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      expect(await runCli(['demo', '--source-steps', 'many'])).toBe(1);
      const output = write.mock.calls.map((call) => String(call[0])).join('');
      expect(output).toBe(
        'fusechat: --source-steps: "many" is not a positive integer. [CLI_INVALID_NUMBER]\n',
      );
    } finally {
      write.mockRestore();
    }
  });
});
