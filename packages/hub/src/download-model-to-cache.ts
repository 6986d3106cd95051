import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import {
  copyFile,
  lstat,
  mkdir,
  open,
  readFile,
  rename,
  rm,
  stat,
  symlink,
  unlink,
  writeFile,
} from 'node:fs/promises';
import { basename, dirname, join, relative } from 'node:path';
import { isFuseChatError, type Logger, type ProgressCallback, silentLogger } from '@fusechat/core';
import { acquireOutputLock } from '@fusechat/core/node';
import type { FileDownloadInfoOutput } from '@huggingface/hub';
import { type ModelFilesNeed, refPath, repoCacheFolder, shardsOfIndex, snapshotPath } from './hub-cache.js';
import { HubError } from './hub-error.js';
import { type HubCallContext, hubCallError, isTransient } from './hub-failure.js';
import { createHubFetch, type HubFetch } from './hub-fetch.js';
import { COMMIT_HASH } from './model-reference.js';

/** Files besides the weights that a model directory uses, fetched when the repo has them. */
export const MODEL_SIDE_FILES: readonly string[] = [
  'generation_config.json',
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'chat_template.jinja',
  'chat_template.json',
];

const INDEX_FILE = 'model.safetensors.index.json';
const SINGLE_FILE = 'model.safetensors';

/** Options of {@link downloadModelToCache}. */
export interface DownloadModelOptions {
  /** `ORG/NAME`. */
  readonly repo: string;
  /** Branch, tag or commit (`main`). */
  readonly revision: string;
  /** Hub cache root (see `hubCacheDirectory`). */
  readonly cacheDir: string;
  /** Hub base URL (`HF_ENDPOINT`). */
  readonly endpoint: string;
  /** Access token; sent to the endpoint only, never logged. */
  readonly token?: string | undefined;
  /** Which files to fetch (default `model`: config.json, weights and the tokenizer files the repo has). */
  readonly need?: ModelFilesNeed | undefined;
  /** More repo files to fetch when present (e.g. `README.md`). */
  readonly extraFiles?: readonly string[] | undefined;
  /** Byte progress (`task: 'download'`, `unit: 'bytes'`). */
  readonly onProgress?: ProgressCallback | undefined;
  /** Where a retry is reported (once per retry). */
  readonly logger?: Logger | undefined;
  readonly signal?: AbortSignal | undefined;
  /** Longest wait for an answer or between two chunks of a body (default 60 s). */
  readonly timeoutMs?: number | undefined;
  /** Attempts per file after the first, on network errors, stalls and 5xx (default 3). */
  readonly retries?: number | undefined;
  /** Base of the jittered exponential wait between attempts (default 1000 ms). */
  readonly retryDelayMs?: number | undefined;
  /** A `fetch` to use instead of the global one. */
  readonly fetch?: typeof fetch | undefined;
}

/** What {@link downloadModelToCache} produced. */
export interface DownloadedModel {
  /** `snapshots/<commit>` in the cache: a complete model directory. */
  readonly dir: string;
  readonly commit: string;
  /** Repo files in the snapshot, in download order. */
  readonly files: readonly string[];
  /** Bytes fetched now (0 when everything was already cached). */
  readonly bytesDownloaded: number;
}

/**
 * Downloads the files a model needs — `config.json`, the safetensors weights (the shards the
 * index names, or `model.safetensors`) and the tokenizer / generation files the repo has — into
 * the Hugging Face cache in huggingface_hub's layout: content in `blobs/<etag>`, the commit's
 * view in `snapshots/<commit>/<file>` (relative symlinks), the branch or tag in
 * `refs/<revision>`. The commit is resolved once (`GET /api/models/{repo}/revision/{rev}`, as
 * `snapshot_download` does) and every file is fetched at that commit, so a branch that moves
 * meanwhile cannot mix two versions.
 *
 * Atomic as huggingface_hub is: a blob is written as `blobs/<etag>.incomplete` (resumed with a
 * range request after an interruption), checked against its size and its hash (the sha256 of
 * an LFS file, the git blob sha1 of a small one) and renamed; `config.json` is linked last and
 * the ref written after it, so an interrupted download never leaves a snapshot that
 * {@link missingModelFiles} calls complete or a ref pointing at one that is not.
 *
 * @example
 * ```ts
 * const { dir } = await downloadModelToCache({
 *   repo: 'Qwen/Qwen2.5-0.5B-Instruct', revision: 'main',
 *   cacheDir: hubCacheDirectory(), endpoint: 'https://huggingface.co', token: process.env.HF_TOKEN,
 * });
 * ```
 */
export async function downloadModelToCache(options: DownloadModelOptions): Promise<DownloadedModel> {
  const { repo, revision, cacheDir, endpoint } = options;
  const token = options.token;
  const hub = createHubFetch({
    endpoint,
    token,
    timeoutMs: options.timeoutMs ?? 60_000,
    signal: options.signal,
    fetch: options.fetch,
  });
  const context = (file?: string): HubCallContext => ({
    repo,
    revision,
    endpoint,
    cacheDir: repoCacheFolder(cacheDir, repo),
    tokenSent: token !== undefined,
    file,
    redact: (text) => (token === undefined ? text : text.split(token).join('***')),
  });
  const fail = (file: string | undefined, error: unknown) =>
    hubCallError(error, hub.lastFailure(), context(file));
  const call = async <T>(file: string | undefined, run: () => Promise<T>): Promise<T> => {
    hub.clearFailure();
    try {
      return await run();
    } catch (error) {
      throw fail(file, error);
    }
  };

  // Loaded only to download: resolving from disk never pays for it.
  const { downloadFile, fileDownloadInfo, modelInfo } = await import('@huggingface/hub');
  const info = await call(undefined, () =>
    modelInfo({
      name: repo,
      revision,
      hubUrl: endpoint,
      additionalFields: ['sha', 'filePaths'],
      fetch: hub.fetch,
    }),
  );
  const commit = info.sha;
  if (typeof commit !== 'string' || !COMMIT_HASH.test(commit)) {
    throw new HubError('HUB_DOWNLOAD_FAILED', `${endpoint} gave no commit hash for ${repo}@${revision}.`, {
      repo,
      revision,
    });
  }
  const available = new Set(info.filePaths ?? []);
  const folder = repoCacheFolder(cacheDir, repo);
  const snapshot = snapshotPath(folder, commit);
  const plan = planFiles(
    repo,
    revision,
    endpoint,
    available,
    options.need ?? 'model',
    options.extraFiles ?? [],
  );

  const fetcher: BlobFetcher = {
    client: { downloadFile, fileDownloadInfo },
    repo,
    commit,
    endpoint,
    folder,
    snapshot,
    hub,
    call,
    fail,
    logger: options.logger ?? silentLogger,
    retries: options.retries ?? 3,
    retryDelayMs: options.retryDelayMs ?? 1000,
    signal: options.signal,
  };
  const progress = createByteProgress(options.onProgress, repo);

  // The index first: it names the shards to fetch.
  const early = [...plan.sideFiles, ...(plan.indexed ? [INDEX_FILE] : [])];
  const earlyInfos = await describeMissing(fetcher, early);
  progress.addTotal(sumSizes(earlyInfos));
  for (const [file, fileInfo] of earlyInfos) await fetchIntoSnapshot(fetcher, file, fileInfo, progress);

  let weights = plan.weights ? [SINGLE_FILE] : [];
  if (plan.indexed) {
    try {
      weights = shardsOfIndex(JSON.parse(await readFile(join(snapshot, INDEX_FILE), 'utf8')));
    } catch (error) {
      throw new HubError(
        'HUB_NOT_A_MODEL',
        `${repo}@${revision}: ${INDEX_FILE} is not a valid index (${(error as Error).message}).`,
        {
          repo,
          revision,
          cacheDir: folder,
          cause: error,
        },
      );
    }
    const unlisted = weights.filter((shard) => !available.has(shard));
    if (unlisted.length > 0) {
      throw new HubError(
        'HUB_NOT_A_MODEL',
        `${repo}@${revision}: ${INDEX_FILE} names shards the repo does not have: ${unlisted.join(', ')}.`,
        {
          repo,
          revision,
          cacheDir: folder,
        },
      );
    }
  }
  // Last the file whose presence makes the snapshot complete (missingModelFiles).
  const lateInfos = await describeMissing(fetcher, [...weights, plan.last]);
  progress.addTotal(sumSizes(lateInfos));
  for (const [file, fileInfo] of lateInfos) await fetchIntoSnapshot(fetcher, file, fileInfo, progress);

  if (revision !== commit) await writeRef(folder, revision, commit);
  return {
    dir: snapshot,
    commit,
    files: [...early, ...weights, plan.last],
    bytesDownloaded: progress.done(),
  };
}

function planFiles(
  repo: string,
  revision: string,
  endpoint: string,
  available: ReadonlySet<string>,
  need: ModelFilesNeed,
  extraFiles: readonly string[],
): { sideFiles: string[]; indexed: boolean; weights: boolean; last: string } {
  const weights = need !== 'tokenizer';
  if (need !== 'model' && !available.has('tokenizer.json')) {
    throw new HubError(
      'HUB_NO_TOKENIZER',
      `${repo}@${revision} on ${endpoint} has no tokenizer.json (it has ${describeFiles(available)}). fusechat reads fast-tokenizer files: give a directory with the tokenizer saved by transformers (tokenizer.save_pretrained(dir)), or a repo that has one.`,
      { repo, revision },
    );
  }
  if (weights && !available.has('config.json')) {
    throw new HubError(
      'HUB_NOT_A_MODEL',
      `${repo}@${revision} on ${endpoint} has no config.json, so it is not a transformers model repo (it has ${describeFiles(available)}).`,
      { repo, revision },
    );
  }
  const indexed = weights && available.has(INDEX_FILE);
  if (weights && !indexed && !available.has(SINGLE_FILE)) {
    const found = [...available].filter((file) => /\.(bin|pt|pth|h5|msgpack|gguf|safetensors)$/.test(file));
    throw new HubError(
      'HUB_NO_SAFETENSORS',
      `${repo}@${revision} on ${endpoint} has no ${SINGLE_FILE} or ${INDEX_FILE}${
        found.length > 0
          ? ` (its weights: ${found.slice(0, 6).join(', ')}${found.length > 6 ? ', …' : ''})`
          : ''
      }. fusechat reads safetensors only: convert the checkpoint (transformers: save_pretrained(dir, safe_serialization=True)) or pick a revision that has them.`,
      { repo, revision },
    );
  }
  const last = weights ? 'config.json' : 'tokenizer.json';
  const candidates = [...MODEL_SIDE_FILES, ...(weights ? [] : ['config.json']), ...extraFiles];
  const sideFiles = candidates.filter(
    (file, index, all) => available.has(file) && all.indexOf(file) === index && file !== last,
  );
  return { sideFiles, indexed, weights, last };
}

function describeFiles(files: ReadonlySet<string>): string {
  const list = [...files];
  if (list.length === 0) return 'no files';
  return list.slice(0, 8).join(', ') + (list.length > 8 ? ', …' : '');
}

interface BlobFetcher {
  readonly client: Pick<typeof import('@huggingface/hub'), 'downloadFile' | 'fileDownloadInfo'>;
  readonly repo: string;
  readonly commit: string;
  readonly endpoint: string;
  readonly folder: string;
  readonly snapshot: string;
  readonly hub: HubFetch;
  readonly call: <T>(file: string | undefined, run: () => Promise<T>) => Promise<T>;
  readonly fail: (file: string | undefined, error: unknown) => HubError;
  readonly logger: Logger;
  readonly retries: number;
  readonly retryDelayMs: number;
  readonly signal: AbortSignal | undefined;
}

/** Download information (`GET …/resolve/<commit>/<file>`, range 0-0) of the files not yet in the snapshot. */
async function describeMissing(
  fetcher: BlobFetcher,
  files: readonly string[],
): Promise<Array<[string, FileDownloadInfoOutput]>> {
  const described: Array<[string, FileDownloadInfoOutput]> = [];
  for (const file of files) {
    if (await isFile(pointerPath(fetcher.snapshot, file))) continue;
    const fileInfo = await fetcher.call(file, () =>
      fetcher.client.fileDownloadInfo({
        repo: fetcher.repo,
        path: file,
        revision: fetcher.commit,
        hubUrl: fetcher.endpoint,
        fetch: fetcher.hub.fetch,
      }),
    );
    if (fileInfo === null) {
      throw new HubError(
        'HUB_FILE_NOT_FOUND',
        `${fetcher.repo}@${fetcher.commit} lists ${file} but ${fetcher.endpoint} does not serve it.`,
        {
          repo: fetcher.repo,
          revision: fetcher.commit,
          cacheDir: fetcher.folder,
          status: 404,
        },
      );
    }
    described.push([file, fileInfo]);
  }
  return described;
}

function sumSizes(infos: ReadonlyArray<[string, FileDownloadInfoOutput]>): number {
  return infos.reduce((total, [, fileInfo]) => total + fileInfo.size, 0);
}

/** huggingface_hub `_normalize_etag`: drop a weak `W/` prefix and the quotes. */
export function normalizeEtag(etag: string): string {
  return etag.replace(/^W\//, '').replace(/^"|"$/g, '');
}

function pointerPath(snapshot: string, file: string): string {
  return join(snapshot, ...file.split('/'));
}

async function fetchIntoSnapshot(
  fetcher: BlobFetcher,
  file: string,
  fileInfo: FileDownloadInfoOutput,
  progress: ByteProgress,
): Promise<void> {
  validateRepoFile(file, fetcher);
  const etag = normalizeEtag(fileInfo.etag);
  if (!/^[A-Za-z0-9_.+=-]{1,128}$/.test(etag) || etag.startsWith('.')) {
    throw new HubError(
      'HUB_DOWNLOAD_FAILED',
      `${fetcher.endpoint} gave ${file} an ETag that cannot name a blob.`,
      {
        repo: fetcher.repo,
        revision: fetcher.commit,
      },
    );
  }
  const blob = join(fetcher.folder, 'blobs', etag);
  const pointer = pointerPath(fetcher.snapshot, file);
  await mkdir(dirname(blob), { recursive: true });
  await mkdir(dirname(pointer), { recursive: true });
  if (await isFile(blob)) {
    progress.skip(fileInfo.size);
  } else {
    const lock = await lockBlob(fetcher, etag, file);
    try {
      if (await isFile(blob)) progress.skip(fileInfo.size);
      else await fetchBlobWithRetries(fetcher, file, fileInfo, etag, blob, progress);
    } finally {
      await lock.release();
    }
  }
  await linkPointer(blob, pointer);
}

function validateRepoFile(file: string, fetcher: BlobFetcher): void {
  const parts = file.split(/[/\\]/);
  if (file.startsWith('/') || /^[A-Za-z]:/.test(file) || parts.some((part) => part === '..' || part === '')) {
    throw new HubError(
      'HUB_NOT_A_MODEL',
      `${fetcher.repo} names a file "${file}" that would land outside the cache; refusing it.`,
      {
        repo: fetcher.repo,
        revision: fetcher.commit,
      },
    );
  }
}

async function lockBlob(fetcher: BlobFetcher, etag: string, file: string) {
  // As huggingface_hub: one lock per blob under `<cache>/.locks/models--ORG--NAME/`.
  const lockTarget = join(dirname(fetcher.folder), '.locks', basename(fetcher.folder), etag);
  try {
    return await acquireOutputLock(lockTarget);
  } catch (error) {
    if (isFuseChatError(error, 'OUTPUT_LOCKED')) {
      throw new HubError(
        'HUB_DOWNLOAD_IN_PROGRESS',
        `Another process is downloading ${fetcher.repo} ${file} into ${fetcher.folder}; wait for it to finish and run again. ${error.message}`,
        { repo: fetcher.repo, revision: fetcher.commit, cacheDir: fetcher.folder, cause: error },
      );
    }
    throw error;
  }
}

async function fetchBlobWithRetries(
  fetcher: BlobFetcher,
  file: string,
  fileInfo: FileDownloadInfoOutput,
  etag: string,
  blob: string,
  progress: ByteProgress,
): Promise<void> {
  const incomplete = `${blob}.incomplete`;
  for (let attempt = 0; ; attempt++) {
    const before = progress.completed();
    fetcher.hub.clearFailure();
    try {
      await fetchBlob(fetcher, file, fileInfo, etag, incomplete, progress);
      await rename(incomplete, blob);
      return;
    } catch (error) {
      progress.rewind(before);
      if (fetcher.signal?.aborted || attempt >= fetcher.retries || !isTransient(error)) {
        throw fetcher.fail(file, error);
      }
      const wait = fetcher.retryDelayMs * 2 ** attempt * (0.5 + Math.random() / 2);
      fetcher.logger.warn(
        `download of ${fetcher.repo} ${file} failed (${error instanceof Error ? error.message : String(error)}); retrying in ${Math.round(wait)} ms (attempt ${attempt + 2} of ${fetcher.retries + 1})`,
      );
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }
}

async function fetchBlob(
  fetcher: BlobFetcher,
  file: string,
  fileInfo: FileDownloadInfoOutput,
  etag: string,
  incomplete: string,
  progress: ByteProgress,
): Promise<void> {
  const hash = blobHasher(etag, fileInfo.size);
  let offset = await sizeOf(incomplete);
  if (offset > fileInfo.size) {
    await rm(incomplete, { force: true });
    offset = 0;
  }
  if (offset > 0 && hash !== undefined) {
    // Resuming: the kept prefix goes into the hash first.
    for await (const chunk of createReadStream(incomplete)) hash.update(chunk as Buffer);
  }
  progress.skip(offset);
  if (offset < fileInfo.size) {
    const remote = await fetcher.client.downloadFile({
      repo: fetcher.repo,
      path: file,
      revision: fetcher.commit,
      hubUrl: fetcher.endpoint,
      fetch: fetcher.hub.fetch,
      downloadInfo: fileInfo,
    });
    if (remote === null)
      throw new HubError('HUB_FILE_NOT_FOUND', `${fetcher.endpoint} does not serve ${fetcher.repo} ${file}.`);
    const handle = await open(incomplete, offset > 0 ? 'a' : 'w');
    try {
      const reader = (offset > 0 ? remote.slice(offset) : remote).stream().getReader();
      let written = offset;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        written += value.byteLength;
        if (written > fileInfo.size) break;
        await handle.write(value);
        hash?.update(value);
        progress.add(value.byteLength, file);
      }
      if (written !== fileInfo.size) {
        await handle.close().catch(() => {});
        await rm(incomplete, { force: true });
        throw new HubError(
          'HUB_DOWNLOAD_CORRUPT',
          `${fetcher.repo} ${file}: received ${written} bytes where ${fileInfo.size} were announced.`,
          { repo: fetcher.repo, revision: fetcher.commit, cacheDir: fetcher.folder },
        );
      }
      await handle.sync();
    } finally {
      await handle.close().catch(() => {});
    }
  }
  if (hash !== undefined) {
    const digest = hash.digest('hex');
    if (digest !== etag) {
      await rm(incomplete, { force: true });
      throw new HubError(
        'HUB_DOWNLOAD_CORRUPT',
        `${fetcher.repo} ${file}: the downloaded content hashes to ${digest}, not ${etag}; it was discarded.`,
        { repo: fetcher.repo, revision: fetcher.commit, cacheDir: fetcher.folder },
      );
    }
  }
}

/**
 * How to check a blob against its ETag: an LFS file's ETag is the sha256 of its content, a
 * regular file's is its git blob id, `sha1("blob <size>\0" + content)`. Other ETags (a
 * mirror's) are not checked.
 */
function blobHasher(etag: string, size: number): Hash | undefined {
  if (/^[0-9a-f]{64}$/.test(etag)) return createHash('sha256');
  if (/^[0-9a-f]{40}$/.test(etag)) return createHash('sha1').update(`blob ${size}\0`);
  return undefined;
}

async function linkPointer(blob: string, pointer: string): Promise<void> {
  await unlink(pointer).catch(() => {});
  try {
    // Relative, as huggingface_hub's `_create_symlink`: the cache survives being moved.
    await symlink(relative(dirname(pointer), blob), pointer);
  } catch {
    // No symlinks (Windows without developer mode): a copy, as huggingface_hub falls back to.
    await copyFile(blob, pointer);
  }
}

/** `refs/<revision>` := commit, by temp file + rename (huggingface_hub writes the bare hash). */
async function writeRef(folder: string, revision: string, commit: string): Promise<void> {
  const path = refPath(folder, revision);
  await mkdir(dirname(path), { recursive: true });
  const temporary = `${path}.tmp-${process.pid}`;
  await writeFile(temporary, commit);
  await rename(temporary, path);
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

async function sizeOf(path: string): Promise<number> {
  try {
    const stats = await lstat(path);
    return stats.isFile() ? stats.size : 0;
  } catch {
    return 0;
  }
}

interface ByteProgress {
  addTotal(bytes: number): void;
  add(bytes: number, file: string): void;
  /** Bytes already on disk: count towards completion, not towards what was downloaded. */
  skip(bytes: number): void;
  completed(): number;
  /** Back to `completed` after a failed attempt (its bytes stay downloaded: the retry resumes). */
  rewind(completed: number): void;
  done(): number;
}

function createByteProgress(onProgress: ProgressCallback | undefined, repo: string): ByteProgress {
  let total = 0;
  let completed = 0;
  let downloaded = 0;
  const emit = (detail?: string) =>
    onProgress?.({ task: 'download', completed, total, unit: 'bytes', detail: detail ?? repo });
  return {
    addTotal(bytes) {
      total += bytes;
      if (bytes > 0) emit();
    },
    add(bytes, file) {
      completed += bytes;
      downloaded += bytes;
      emit(`${repo} ${file}`);
    },
    skip(bytes) {
      completed += bytes;
      if (bytes > 0) emit();
    },
    completed: () => completed,
    rewind(to) {
      completed = to;
    },
    done: () => downloaded,
  };
}
