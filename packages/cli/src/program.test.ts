import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { cliVersion, createProgram } from './program.js';
import { runCaptured } from './test-fixtures.js';

const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
  name: string;
  version: string;
};

/** Every command path: `['eval']`, `['store', 'inspect']`, … */
function commandPaths(command: Command, prefix: string[] = []): string[][] {
  return command.commands.flatMap((sub) => [
    [...prefix, sub.name()],
    ...commandPaths(sub, [...prefix, sub.name()]),
  ]);
}

describe('fusechat --version', () => {
  it("is the CLI package's version from its package.json", () => {
    expect(manifest.name).toBe('@fusechat/cli');
    expect(cliVersion()).toBe(manifest.version);
    expect(createProgram().version()).toBe(manifest.version);
  });

  it('prints the version and exits 0 on the program and on every command, before required options', async () => {
    const paths = commandPaths(createProgram());
    expect(paths.map((path) => path.join(' '))).toEqual(
      expect.arrayContaining(['eval', 'generate', 'capture', 'merge', 'serve']),
    );
    for (const argv of [['--version'], ['-V'], ...paths.map((path) => [...path, '--version'])]) {
      const { code, stdout, stderr } = await runCaptured(argv);
      expect({ argv, code, stdout, stderr }).toEqual({
        argv,
        code: 0,
        stdout: `${manifest.version}\n`,
        stderr: '',
      });
    }
  });

  it('is listed in --help', () => {
    const program = createProgram();
    const eval_ = program.commands.find((command) => command.name() === 'eval')!;
    expect(program.helpInformation()).toMatch(/-V, --version +print the version of fusechat/);
    expect(eval_.helpInformation()).toMatch(/--version +print the version of fusechat/);
  });
});
