import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** Where the Hub is and how to reach it, read from the environment as huggingface_hub reads it. */
export interface HubEnvironment {
  /** The hub cache root (`…/huggingface/hub`), holding `models--ORG--NAME` folders. */
  readonly cacheDir: string;
  /** Base URL of the Hub, without a trailing `/` (`HF_ENDPOINT`, default `https://huggingface.co`). */
  readonly endpoint: string;
  /** `HF_HUB_OFFLINE` (or `TRANSFORMERS_OFFLINE`) is set to a true value: never touch the network. */
  readonly offline: boolean;
  /** The access token, when one is configured. Never log it. */
  readonly token: string | undefined;
}

/** The Hub's default address (huggingface_hub `_HF_DEFAULT_ENDPOINT`). */
export const DEFAULT_HUB_ENDPOINT = 'https://huggingface.co';

// huggingface_hub constants.py `ENV_VARS_TRUE_VALUES`, compared upper-cased.
const TRUE_VALUES = new Set(['1', 'ON', 'YES', 'TRUE']);

function isTrue(value: string | undefined): boolean {
  return value !== undefined && TRUE_VALUES.has(value.toUpperCase());
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

/** `~` and `$VAR` / `${VAR}` expansion, as huggingface_hub applies `expanduser` + `expandvars`. */
function expandPath(path: string, env: NodeJS.ProcessEnv): string {
  const expandedVariables = path.replace(
    /\$(\w+)|\$\{(\w+)\}/g,
    (whole, bare: string | undefined, braced: string | undefined) => env[bare ?? braced ?? ''] ?? whole,
  );
  if (expandedVariables === '~') return homedir();
  if (expandedVariables.startsWith('~/')) return join(homedir(), expandedVariables.slice(2));
  return expandedVariables;
}

/** `HF_HOME`, else `$XDG_CACHE_HOME/huggingface`, else `~/.cache/huggingface` (constants.py). */
export function hfHome(env: NodeJS.ProcessEnv = process.env): string {
  const home =
    nonEmpty(env.HF_HOME) ?? join(nonEmpty(env.XDG_CACHE_HOME) ?? join(homedir(), '.cache'), 'huggingface');
  return expandPath(home, env);
}

/**
 * The hub cache directory exactly as huggingface_hub's constants.py computes `HF_HUB_CACHE`:
 * `HF_HUB_CACHE`, else the legacy `HUGGINGFACE_HUB_CACHE`, else `HF_HOME/hub` (with `HF_HOME`
 * defaulting to `$XDG_CACHE_HOME/huggingface`, then `~/.cache/huggingface`).
 *
 * @example
 * ```ts
 * hubCacheDirectory({ HF_HOME: '/data/hf' }); // '/data/hf/hub'
 * ```
 */
export function hubCacheDirectory(env: NodeJS.ProcessEnv = process.env): string {
  const explicit = nonEmpty(env.HF_HUB_CACHE) ?? nonEmpty(env.HUGGINGFACE_HUB_CACHE);
  return explicit === undefined ? join(hfHome(env), 'hub') : expandPath(explicit, env);
}

/**
 * The token huggingface_hub's `get_token()` would use: `HF_TOKEN`, else the legacy
 * `HUGGING_FACE_HUB_TOKEN`, else the file `huggingface-cli login` writes (`HF_TOKEN_PATH`, default
 * `HF_HOME/token`). `undefined` when none is set.
 */
export function hubToken(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const fromEnvironment = nonEmpty(env.HF_TOKEN?.trim()) ?? nonEmpty(env.HUGGING_FACE_HUB_TOKEN?.trim());
  if (fromEnvironment !== undefined) return fromEnvironment;
  const path = expandPath(nonEmpty(env.HF_TOKEN_PATH) ?? join(hfHome(env), 'token'), env);
  try {
    return nonEmpty(readFileSync(path, 'utf8').trim());
  } catch {
    return undefined;
  }
}

/**
 * Everything {@link HubEnvironment} holds, from `env` (default `process.env`).
 *
 * @example
 * ```ts
 * const { cacheDir, offline } = hubEnvironment();
 * ```
 */
export function hubEnvironment(env: NodeJS.ProcessEnv = process.env): HubEnvironment {
  return {
    cacheDir: hubCacheDirectory(env),
    endpoint: (nonEmpty(env.HF_ENDPOINT) ?? DEFAULT_HUB_ENDPOINT).replace(/\/+$/, ''),
    offline: isTrue(env.HF_HUB_OFFLINE) || isTrue(env.TRANSFORMERS_OFFLINE),
    token: hubToken(env),
  };
}
