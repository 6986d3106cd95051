import { type FuseChatError, isFuseChatError } from '@fusechat/core';
import { CommanderError } from 'commander';
import { createProgram } from './program.js';

/** Exit code of a usage error (unknown option, missing argument, a bad option value). */
export const USAGE_EXIT_CODE = 2;

/**
 * Runs the CLI with `argv` (without `node` and the script). Resolves to the exit code: 0 on
 * success; otherwise exactly one line `fusechat: <reason> [CODE]` on stderr — exit 2 for usage
 * errors (commander's, and option values the commands refuse: codes `CLI_USAGE`,
 * `CLI_INVALID_NUMBER`), 1 for everything else. Errors that are not
 * fusechat's own (a bug, the system) get a code too; `--verbose` adds the stack trace.
 */
export async function runCli(argv: readonly string[]): Promise<number> {
  const program = createProgram({ exitOverride: true });
  const verbose = argv.includes('--verbose');
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (
        error.code === 'commander.helpDisplayed' ||
        error.code === 'commander.version' ||
        error.code === 'commander.help' ||
        error.exitCode === 0
      )
        return 0;
      const reason = error.message.replace(/^error: /, '');
      writeLine(`${oneLine(reason)} (run with --help for usage) [CLI_USAGE]`);
      return USAGE_EXIT_CODE;
    }
    const { line, exitCode, problems } = describeFailure(error);
    // A list of problems (a config with several mistakes) comes first, one per line; the output
    // always ends in exactly one `fusechat: <reason> [CODE]` line.
    for (const problem of problems) process.stderr.write(`${problem}\n`);
    writeLine(line);
    if (verbose) process.stderr.write(`${stackOf(error)}\n`);
    return exitCode;
  }
}

const USAGE_CODES = new Set(['CLI_USAGE', 'CLI_INVALID_NUMBER']);

/** How a failure is reported: its problem list, its one line (without `fusechat: `), its exit code. */
export interface FailureReport {
  /** The `  - …` lines of an error that lists several problems (printed before the line). */
  readonly problems: readonly string[];
  readonly line: string;
  readonly exitCode: number;
}

/** The one line (without the `fusechat: ` prefix) and exit code for a failure. */
export function describeFailure(error: unknown): FailureReport {
  if (isFuseChatError(error)) {
    const exitCode = USAGE_CODES.has(error.code) ? USAGE_EXIT_CODE : 1;
    const lines = error.message.split('\n');
    const problems = lines.filter((line) => /^\s+- /.test(line));
    const rest = lines.filter((line) => !/^\s+- /.test(line)).join('\n');
    return { problems, line: `${oneLine(rest).replace(/:$/, '')} [${error.code}]`, exitCode };
  }
  return { problems: [], ...describeForeignFailure(error) };
}

function describeForeignFailure(error: unknown): { line: string; exitCode: number } {
  const message = error instanceof Error ? error.message : String(error);
  const errno = (error as NodeJS.ErrnoException | undefined)?.code;
  if (typeof errno === 'string' && /^E[A-Z0-9]+$/.test(errno)) {
    return { line: `${oneLine(message)} [SYSTEM_${errno}]`, exitCode: 1 };
  }
  if (
    error instanceof RangeError &&
    /array length|allocation failed|buffer size|string length/i.test(message)
  ) {
    return {
      line: `${oneLine(message)}: an input asks for more memory than a JavaScript array or string can hold (a size in a config, or a line or sequence too long) [RESOURCE_LIMIT]`,
      exitCode: 1,
    };
  }
  return {
    line: `unexpected error: ${oneLine(message)} (a bug: please report it with the output of --verbose) [INTERNAL_ERROR]`,
    exitCode: 1,
  };
}

function writeLine(text: string): void {
  process.stderr.write(`fusechat: ${text}\n`);
}

/** Messages are meant to be one line; a multi-line one (a library's code frame) is joined. */
function oneLine(text: string): string {
  return text
    .split('\n')
    .map((part) => part.trim())
    .filter((part) => part !== '')
    .join(' ');
}

function stackOf(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current !== undefined && depth < 5; depth++) {
    parts.push(current instanceof Error ? (current.stack ?? current.message) : String(current));
    current = current instanceof Error ? (current as FuseChatError).cause : undefined;
    if (current !== undefined) parts.push('caused by:');
  }
  return parts.join('\n');
}
