import { stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Logger, ProgressCallback } from '@fusechat/core';
import { downloadModelToCache } from './download-model-to-cache.js';
import { findCachedSnapshot, type ModelFilesNeed, repoCacheFolder } from './hub-cache.js';
import { hubEnvironment } from './hub-environment.js';
import { HubError } from './hub-error.js';
import { parseModelId } from './model-reference.js';

/** Where a model reference led. */
export interface ResolvedModel {
  /** A directory (or file) to load: the local path, or the cache's `snapshots/<commit>`. */
  readonly dir: string;
  /** `local`: the path existed; `cache`: found in the HF cache; `download`: fetched into it now. */
  readonly source: 'local' | 'cache' | 'download';
  /** `ORG/NAME` when the reference was a Hugging Face id. */
  readonly repo?: string | undefined;
  /** The revision asked for (`main` when none was named). */
  readonly revision?: string | undefined;
  /** The commit the snapshot holds. */
  readonly commit?: string | undefined;
}

/** Options of {@link resolveModelReference}; every one defaults from the environment. */
export interface ResolveModelReferenceOptions {
  /** Directory relative paths are resolved against (default `process.cwd()`). */
  readonly baseDir?: string | undefined;
  /** Environment to read `HF_*` variables from (default `process.env`). */
  readonly env?: NodeJS.ProcessEnv | undefined;
  /** Hub cache root (default: `HF_HUB_CACHE`, else `HF_HOME/hub`, else `~/.cache/huggingface/hub`). */
  readonly cacheDir?: string | undefined;
  /** Hub URL (default `HF_ENDPOINT`, else `https://huggingface.co`). */
  readonly endpoint?: string | undefined;
  /** Access token (default `HF_TOKEN`, else the `huggingface-cli login` token file). Never logged. */
  readonly token?: string | undefined;
  /** Never touch the network (default: `HF_HUB_OFFLINE` / `TRANSFORMERS_OFFLINE`). */
  readonly offline?: boolean | undefined;
  /**
   * What the caller reads: `model` (default: config.json + safetensors weights), `tokenizer`
   * (tokenizer files only, no weights downloaded), or `model-and-tokenizer`. A cached snapshot
   * counts as usable when it has these; a download fetches them (plus the repo's other
   * tokenizer and generation files).
   */
  readonly need?: ModelFilesNeed | undefined;
  /** Files to fetch besides the model's (when downloading). */
  readonly extraFiles?: readonly string[] | undefined;
  /** Download progress in bytes. */
  readonly onProgress?: ProgressCallback | undefined;
  /** Receives one line per retried download. */
  readonly logger?: Logger | undefined;
  readonly signal?: AbortSignal | undefined;
  /** Longest wait for the Hub to answer or between body chunks (default 60 s). */
  readonly timeoutMs?: number | undefined;
  /** Retries per file on network errors and 5xx (default 3). */
  readonly retries?: number | undefined;
  /** Base of the jittered backoff between retries (default 1000 ms). */
  readonly retryDelayMs?: number | undefined;
  /** A `fetch` to use instead of the global one. */
  readonly fetch?: typeof fetch | undefined;
}

/**
 * Turns what a user wrote after `--model` into a model directory, as `transformers`'
 * `from_pretrained` does:
 * 1. a path that exists (relative to `baseDir`, `~` expanded) is used as it is — local paths win;
 * 2. otherwise `ORG/NAME[@revision]` (validated by huggingface_hub's rules) is looked up in the
 *    Hugging Face cache — `refs/<revision>` → `snapshots/<commit>/`, a 40-hex revision used
 *    directly — and used without any network access when the snapshot has what `need` asks
 *    for (`config.json` and all its safetensors weights by default);
 * 3. otherwise, unless offline (`HF_HUB_OFFLINE=1`), the model's files are downloaded into that
 *    same cache with `@huggingface/hub` (see {@link downloadModelToCache}).
 * A cached branch is not re-checked against the Hub; pin a commit (`@<sha>`) or delete
 * `refs/<branch>` to move to a newer one.
 *
 * Fails with a coded {@link HubError}: `HUB_PATH_NOT_FOUND` for a path-shaped reference that does
 * not exist, `HUB_NOT_CACHED` / `HUB_SNAPSHOT_INCOMPLETE` offline (naming the cache folder it
 * looked in), `HUB_REPO_NOT_FOUND`, `HUB_GATED_REPO`, `HUB_ACCESS_DENIED`,
 * `HUB_REVISION_NOT_FOUND`, `HUB_NO_SAFETENSORS`, `HUB_DOWNLOAD_FAILED` from the Hub.
 *
 * @example
 * ```ts
 * const { dir, source, commit } = await resolveModelReference('Qwen/Qwen2.5-0.5B-Instruct@main', {
 *   onProgress: createProgressPrinter(),
 * });
 * const model = await loadModel(dir);
 * ```
 */
export async function resolveModelReference(
  reference: string,
  options: ResolveModelReferenceOptions = {},
): Promise<ResolvedModel> {
  if (typeof reference !== 'string' || reference.trim() === '') {
    throw new HubError(
      'HUB_INVALID_REFERENCE',
      'The model reference is empty: give a model directory or a Hugging Face id (ORG/NAME[@revision]).',
    );
  }
  const localPath = resolve(options.baseDir ?? process.cwd(), expandHome(reference));
  if (await exists(localPath)) return { dir: localPath, source: 'local' };

  const id = parseModelId(reference);
  if (id === undefined) {
    throw new HubError(
      'HUB_PATH_NOT_FOUND',
      `${reference}: no such file or directory (looked at ${localPath}). Give a model directory that exists, or a Hugging Face id (ORG/NAME[@revision]).`,
      { details: { path: localPath } },
    );
  }
  const environment = hubEnvironment(options.env ?? process.env);
  const cacheDir = options.cacheDir ?? environment.cacheDir;
  const endpoint = (options.endpoint ?? environment.endpoint).replace(/\/+$/, '');
  const offline = options.offline ?? environment.offline;
  const { repo, revision } = id;
  const folder = repoCacheFolder(cacheDir, repo);
  const notLocal = `no directory ${localPath}`;

  const need = options.need ?? 'model';
  const cached = await findCachedSnapshot(cacheDir, repo, revision, need);
  if (cached !== undefined && cached.missing.length === 0) {
    return { dir: cached.dir, source: 'cache', repo, revision, commit: cached.commit };
  }
  if (offline) {
    if (cached !== undefined) {
      throw new HubError(
        'HUB_SNAPSHOT_INCOMPLETE',
        `${reference}: the cached snapshot ${cached.dir} lacks ${cached.missing.join(', ')} (an interrupted download?), and HF_HUB_OFFLINE is set, so nothing was downloaded. Unset HF_HUB_OFFLINE to complete it.`,
        { repo, revision, cacheDir: folder, details: { missing: cached.missing, path: localPath } },
      );
    }
    throw new HubError(
      'HUB_NOT_CACHED',
      `${reference}: ${notLocal}, and the Hugging Face cache has no ${repo}@${revision} (looked in ${folder}); HF_HUB_OFFLINE is set, so nothing was downloaded. Unset HF_HUB_OFFLINE to download it, or point HF_HUB_CACHE / HF_HOME at the cache that has it.`,
      { repo, revision, cacheDir: folder, details: { path: localPath } },
    );
  }
  try {
    const downloaded = await downloadModelToCache({
      repo,
      revision,
      cacheDir,
      endpoint,
      token: options.token ?? environment.token,
      need,
      extraFiles: options.extraFiles,
      onProgress: options.onProgress,
      logger: options.logger,
      signal: options.signal,
      timeoutMs: options.timeoutMs,
      retries: options.retries,
      retryDelayMs: options.retryDelayMs,
      fetch: options.fetch,
    });
    return { dir: downloaded.dir, source: 'download', repo, revision, commit: downloaded.commit };
  } catch (error) {
    if (error instanceof HubError && PATH_OR_REPO_CODES.has(error.code)) {
      // `models/pivot` may be a mistyped path as much as a repo id: say where it looked for both.
      throw new HubError(error.code, `${reference}: ${notLocal}, and ${lowerFirst(error.message)}`, {
        repo,
        revision,
        cacheDir: folder,
        status: error.status,
        cause: error,
        details: { path: localPath },
      });
    }
    throw error;
  }
}

/** Failures that may mean the reference was meant as a local path (a missing repo, no network). */
const PATH_OR_REPO_CODES: ReadonlySet<string> = new Set([
  'HUB_REPO_NOT_FOUND',
  'HUB_ACCESS_DENIED',
  'HUB_DOWNLOAD_FAILED',
]);

function lowerFirst(text: string): string {
  return text.length === 0 ? text : text[0]!.toLowerCase() + text.slice(1);
}

function expandHome(path: string): string {
  if (path === '~') return homedir();
  if (path.startsWith('~/')) return join(homedir(), path.slice(2));
  return path;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
