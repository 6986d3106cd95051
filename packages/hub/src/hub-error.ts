import { FuseChatError } from '@fusechat/core';

/** Every code a {@link HubError} carries; docs/errors.md ("Hub") describes each one. */
export type HubErrorCode =
  | 'HUB_INVALID_REFERENCE'
  | 'HUB_INVALID_REPO_ID'
  | 'HUB_PATH_NOT_FOUND'
  | 'HUB_NOT_CACHED'
  | 'HUB_SNAPSHOT_INCOMPLETE'
  | 'HUB_REPO_NOT_FOUND'
  | 'HUB_GATED_REPO'
  | 'HUB_ACCESS_DENIED'
  | 'HUB_REVISION_NOT_FOUND'
  | 'HUB_FILE_NOT_FOUND'
  | 'HUB_NOT_A_MODEL'
  | 'HUB_NO_SAFETENSORS'
  | 'HUB_NO_TOKENIZER'
  | 'HUB_DOWNLOAD_FAILED'
  | 'HUB_DOWNLOAD_CORRUPT'
  | 'HUB_DOWNLOAD_IN_PROGRESS';

/**
 * A model reference that could not be resolved: a path that does not exist, a Hugging Face id
 * that is malformed, not cached (offline), missing, gated or refused on the Hub, or a download
 * that failed. Never carries the access token: not in the message, not in `details`.
 *
 * @example
 * ```ts
 * try { await resolveModelReference('Qwen/Qwen2.5-0.5B-Instruct', { offline: true }); }
 * catch (error) { if (error instanceof HubError && error.code === 'HUB_NOT_CACHED') console.error(error.cacheDir); }
 * ```
 */
export class HubError extends FuseChatError {
  declare readonly code: HubErrorCode;
  /** The repo id (`ORG/NAME`), when the reference was one. */
  readonly repo: string | undefined;
  /** The revision asked for (`main` by default). */
  readonly revision: string | undefined;
  /** The repo's folder in the Hugging Face cache that was looked in or written to. */
  readonly cacheDir: string | undefined;
  /** HTTP status of the Hub's answer, for errors that come from one. */
  readonly status: number | undefined;

  constructor(
    code: HubErrorCode,
    message: string,
    options: {
      repo?: string | undefined;
      revision?: string | undefined;
      cacheDir?: string | undefined;
      status?: number | undefined;
      cause?: unknown;
      details?: Record<string, unknown>;
    } = {},
  ) {
    super(code, message, {
      cause: options.cause,
      details: {
        ...options.details,
        repo: options.repo,
        revision: options.revision,
        cacheDir: options.cacheDir,
        status: options.status,
      },
    });
    this.repo = options.repo;
    this.revision = options.revision;
    this.cacheDir = options.cacheDir;
    this.status = options.status;
  }
}
