import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { COMMIT_HASH } from './model-reference.js';

/**
 * The repo's folder in the hub cache: `models--ORG--NAME` (huggingface_hub `repo_folder_name`:
 * `f"{repo_type}s"` and the id's parts joined by `--`, which the Hub forbids inside ids).
 */
export function repoCacheFolder(cacheDir: string, repo: string): string {
  return join(cacheDir, ['models', ...repo.split('/')].join('--'));
}

/** `refs/<revision>`: the commit a branch or tag pointed at when it was last resolved. */
export function refPath(repoFolder: string, revision: string): string {
  return join(repoFolder, 'refs', ...revision.split('/'));
}

/** `snapshots/<commit>`: the files of one commit, symlinks into `blobs/`. */
export function snapshotPath(repoFolder: string, commit: string): string {
  return join(repoFolder, 'snapshots', commit);
}

/**
 * What a caller will read from a model directory: `model` (config.json + safetensors weights,
 * the default), `tokenizer` (tokenizer.json and its companions only: no weights are fetched), or
 * `model-and-tokenizer`.
 */
export type ModelFilesNeed = 'model' | 'tokenizer' | 'model-and-tokenizer';

/** A commit's snapshot found in the cache, and which of a model's files it lacks. */
export interface CachedSnapshot {
  readonly commit: string;
  readonly dir: string;
  /** Files a model needs that are not there (empty: the snapshot is usable). */
  readonly missing: readonly string[];
}

/**
 * Looks `revision` up in the cache as huggingface_hub's `try_to_load_from_cache` does: a 40-hex
 * revision is a commit; anything else is read from `refs/<revision>` (the commit hash, as
 * `hf_hub_download` writes it); then `snapshots/<commit>/` must exist. Returns `undefined` when
 * the cache has no snapshot for it. Never touches the network.
 *
 * @example
 * ```ts
 * const snapshot = await findCachedSnapshot(hubCacheDirectory(), 'Qwen/Qwen2.5-0.5B-Instruct', 'main');
 * if (snapshot && snapshot.missing.length === 0) console.log(snapshot.dir);
 * ```
 */
export async function findCachedSnapshot(
  cacheDir: string,
  repo: string,
  revision: string,
  need: ModelFilesNeed = 'model',
): Promise<CachedSnapshot | undefined> {
  const folder = repoCacheFolder(cacheDir, repo);
  let commit: string | undefined;
  if (COMMIT_HASH.test(revision)) {
    commit = revision;
  } else {
    try {
      commit = (await readFile(refPath(folder, revision), 'utf8')).trim();
    } catch {
      return undefined;
    }
    if (!COMMIT_HASH.test(commit)) return undefined;
  }
  const dir = snapshotPath(folder, commit);
  if (!(await isDirectory(dir))) return undefined;
  return { commit, dir, missing: await missingModelFiles(dir, need) };
}

/**
 * The files a Hugging Face model directory needs and lacks: `config.json`, and the safetensors
 * weights — every shard `model.safetensors.index.json` names, else `model.safetensors`. A
 * symlink whose blob is gone counts as missing. `tokenizer.json` is required when `need` names
 * the tokenizer, and is all that `tokenizer` requires.
 */
export async function missingModelFiles(dir: string, need: ModelFilesNeed = 'model'): Promise<string[]> {
  const missing: string[] = [];
  if (need !== 'model' && !(await isFile(join(dir, 'tokenizer.json')))) missing.push('tokenizer.json');
  if (need === 'tokenizer') return missing;
  if (!(await isFile(join(dir, 'config.json')))) missing.push('config.json');
  const indexFile = join(dir, 'model.safetensors.index.json');
  if (await isFile(indexFile)) {
    let shards: string[];
    try {
      shards = shardsOfIndex(JSON.parse(await readFile(indexFile, 'utf8')));
    } catch {
      return [...missing, 'model.safetensors.index.json'];
    }
    for (const shard of shards) if (!(await isFile(join(dir, shard)))) missing.push(shard);
  } else if (!(await isFile(join(dir, 'model.safetensors')))) {
    missing.push('model.safetensors');
  }
  return missing;
}

/** The distinct shard files of a parsed `model.safetensors.index.json`, in first-use order. */
export function shardsOfIndex(index: unknown): string[] {
  const weightMap = (index as { weight_map?: unknown } | null)?.weight_map;
  if (weightMap === null || typeof weightMap !== 'object') {
    throw new Error('model.safetensors.index.json has no "weight_map" object');
  }
  const shards = new Set<string>();
  for (const file of Object.values(weightMap as Record<string, unknown>)) {
    if (typeof file !== 'string') throw new Error('weight_map values must be file names');
    shards.add(file);
  }
  return [...shards];
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}
