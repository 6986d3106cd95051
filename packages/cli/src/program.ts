import { Command } from 'commander';
import { registerCommands } from './commands/index.js';

/**
 * Builds the `fusechat` program. Each command lives in `src/commands/<name>.ts` and registers
 * itself on the program; `src/commands/index.ts` lists them. With `exitOverride`, help and usage
 * errors throw a `CommanderError` instead of exiting the process (what `runCli` needs).
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
  return program;
}
