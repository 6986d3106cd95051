import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { registerCommands } from './commands/index.js';

/**
 * Builds the `fusechat` program. Each command lives in `src/commands/<name>.ts` and registers
 * itself on the program; `src/commands/index.ts` lists them. With `exitOverride`, help and usage
 * errors throw a `CommanderError` instead of exiting the process (what `runCli` needs).
 * `--version` works on the program and on every command (`fusechat eval --version`).
 */
export function createProgram(options: { exitOverride?: boolean } = {}): Command {
  const program = new Command('fusechat')
    .description('Knowledge fusion of chat LLMs: capture, align, fuse, train and merge.')
    .option('--verbose', 'print the stack trace of an error')
    // runCli prints usage errors as one `fusechat: … [CLI_USAGE]` line itself.
    .configureOutput({ outputError: () => {} });
  // Before the commands exist: commander copies this setting into subcommands only when they are
  // created, so a later call would leave `fusechat merge --help` calling process.exit.
  if (options.exitOverride) program.exitOverride();
  registerCommands(program);
  const version = cliVersion();
  program.version(version, '-V, --version', 'print the version of fusechat');
  // Commander gives only the program a version option; commands get the long flag alone, so
  // no command's own short option can clash with it.
  const addVersion = (command: Command): void => {
    for (const sub of command.commands) {
      sub.version(version, '--version', 'print the version of fusechat');
      addVersion(sub);
    }
  };
  addVersion(program);
  return program;
}

/**
 * The version of `@fusechat/cli`, read from its package.json at run time. The sources
 * (`src/program.ts`, run by vitest or tsx) and the bundle (`dist/*.js`) both sit one directory
 * below the package root; the search walks up a few levels in case a bundler nests its chunks.
 *
 * @example
 * ```ts
 * cliVersion(); // '0.0.0'
 * ```
 */
export function cliVersion(): string {
  // The CommonJS bundle has no import.meta.url (tsup leaves it undefined) but has __filename.
  const url: string | undefined = import.meta.url;
  let directory = dirname(url === undefined ? __filename : fileURLToPath(url));
  for (let level = 0; level < 4; level++, directory = dirname(directory)) {
    let manifest: { name?: unknown; version?: unknown };
    try {
      manifest = JSON.parse(readFileSync(join(directory, 'package.json'), 'utf8'));
    } catch {
      continue;
    }
    if (manifest.name === '@fusechat/cli' && typeof manifest.version === 'string') return manifest.version;
  }
  return 'unknown';
}
