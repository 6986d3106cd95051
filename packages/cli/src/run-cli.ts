import { isFuseChatError } from '@fusechat/core';
import { CommanderError } from 'commander';
import { createProgram } from './program.js';

/**
 * Runs the CLI with `argv` (without `node` and the script). Resolves to the exit code: 0 on
 * success, 1 with a one-line reason on stderr for any expected failure (bad input, bad file),
 * 2 for usage errors; unexpected errors print their stack.
 */
export async function runCli(argv: readonly string[]): Promise<number> {
  const program = createProgram({ exitOverride: true });
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (
        error.code === 'commander.helpDisplayed' ||
        error.code === 'commander.version' ||
        error.exitCode === 0
      )
        return 0;
      return 2;
    }
    if (isFuseChatError(error)) {
      process.stderr.write(`fusechat: ${error.message} [${error.code}]\n`);
      return 1;
    }
    process.stderr.write(
      `fusechat: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    return 1;
  }
}
