import { Command, Option } from 'commander';
import { registerCommands } from './commands/index.js';

/** Backend names accepted by `--backend` on every command. */
export const BACKEND_CHOICES = ['auto', 'tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] as const;

/** `--backend`, shared by every command (commands without tensor math accept and ignore it). */
export function backendOption(): Option {
  return new Option('--backend <name>', 'tensor backend').choices([...BACKEND_CHOICES]).default('auto');
}

/**
 * Builds the `fusechat` program. Each command lives in `src/commands/<name>.ts` and registers
 * itself on the program; `src/commands/index.ts` lists them. With `exitOverride`, help and usage
 * errors throw a `CommanderError` instead of exiting the process (what `runCli` needs).
 */
export function createProgram(options: { exitOverride?: boolean } = {}): Command {
  const program = new Command('fusechat')
    .description('Knowledge fusion of chat LLMs: capture, align, fuse, train and merge.')
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ outputError: (text, write) => write(text) });
  // Before the commands exist: commander copies this setting into subcommands only when they are
  // created, so a later call would leave `fusechat merge --help` calling process.exit.
  if (options.exitOverride) program.exitOverride();
  registerCommands(program);
  return program;
}
