import type { BackendRequest, BackendSelection, InitBackendOptions } from '@fusechat/backend';
import { type Command, Option } from 'commander';
import { POSITIVE_INTEGER, parseNumberOption } from './parse-number-option.js';

/** Backend names accepted by `--backend` on every command. */
export const BACKEND_CHOICES = ['auto', 'tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] as const;

/** `--backend`, shared by every command (commands without tensor math accept and ignore it). */
export function backendOption(): Option {
  return new Option('--backend <name>', 'tensor backend').choices([...BACKEND_CHOICES]).default('auto');
}

/** `--threads`, for commands that compute with tfjs: threads of the wasm backend. */
export function threadsOption(): Option {
  return new Option(
    '--threads <n>',
    'threads of the wasm backend (default: the idle cores, at most 8; 1 = single-threaded)',
  );
}

/** The options {@link addBackendOptions} adds, as commander parses them. */
export interface BackendCommandOptions {
  backend: BackendRequest | string;
  threads?: string | undefined;
}

/** Adds `--backend` and `--threads` to a command that computes with tfjs. */
export function addBackendOptions(command: Command): Command {
  return command.addOption(backendOption()).addOption(threadsOption());
}

/**
 * Initialises the backend a command's `--backend` / `--threads` ask for. `@fusechat/backend`
 * (tfjs) is loaded here, on use: defining the options (and `--help`, `--version`) does not load it.
 */
export function initCommandBackend(
  options: BackendCommandOptions,
  init: Omit<InitBackendOptions, 'wasmThreads'> = {},
): Promise<BackendSelection> {
  const threads =
    options.threads === undefined
      ? undefined
      : parseNumberOption(options.threads, 'threads', POSITIVE_INTEGER);
  return import('@fusechat/backend').then(({ initBackend }) =>
    initBackend(options.backend as BackendRequest, {
      ...init,
      ...(threads === undefined ? {} : { wasmThreads: threads }),
    }),
  );
}
