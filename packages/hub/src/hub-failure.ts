import { isFuseChatError } from '@fusechat/core';
import { HubError } from './hub-error.js';
import type { HubFailure } from './hub-fetch.js';

/** What a failed Hub call was about, to turn it into a {@link HubError} that says what to do. */
export interface HubCallContext {
  readonly repo: string;
  readonly revision: string;
  readonly endpoint: string;
  readonly cacheDir: string;
  /** Whether a token was sent (the advice differs); the token itself never comes here. */
  readonly tokenSent: boolean;
  /** The file being fetched, when the call was for one. */
  readonly file?: string | undefined;
  /** Removes the token from any text taken from elsewhere (belt and braces). */
  readonly redact: (text: string) => string;
}

/**
 * Maps an error of an `@huggingface/hub` call (with the `X-Error-Code` the fetch wrapper kept)
 * onto a coded {@link HubError}, as huggingface_hub's `hf_raise_for_status` tells apart
 * `RepoNotFound`, `RevisionNotFound`, `EntryNotFound` and `GatedRepo`; a 401 without an error
 * code is a missing repo for an anonymous caller and a refused token otherwise.
 */
export function hubCallError(
  error: unknown,
  failure: HubFailure | undefined,
  context: HubCallContext,
): HubError {
  if (error instanceof HubError) return error;
  const { repo, revision, endpoint, cacheDir } = context;
  const fields = { repo, revision, cacheDir, cause: error };
  const status = isHubApiError(error) ? error.statusCode : undefined;
  const errorCode = failure !== undefined && failure.status === status ? failure.errorCode : undefined;
  const page = `${endpoint}/${repo}`;
  if (status !== undefined) {
    const withStatus = { ...fields, status };
    if (errorCode === 'GatedRepo') {
      return new HubError(
        'HUB_GATED_REPO',
        `${repo} is a gated model on ${endpoint}: ${
          context.tokenSent
            ? 'the account of the token in HF_TOKEN has not been granted access yet'
            : 'downloading it needs an access token'
        }. Accept its conditions at ${page}, then set HF_TOKEN to a token of that account (https://huggingface.co/settings/tokens).`,
        withStatus,
      );
    }
    if (errorCode === 'RevisionNotFound') {
      return new HubError(
        'HUB_REVISION_NOT_FOUND',
        `${repo} has no revision "${revision}" on ${endpoint}: give a branch, tag or commit hash that exists (see ${page}/tree/main), or drop "@${revision}" for main.`,
        withStatus,
      );
    }
    if (errorCode === 'EntryNotFound') {
      return new HubError(
        'HUB_FILE_NOT_FOUND',
        `${repo}@${revision} lists ${context.file ?? 'a file'} but ${endpoint} does not serve it; try again later or pin another revision.`,
        withStatus,
      );
    }
    if (errorCode === 'RepoNotFound' || status === 404 || (status === 401 && !context.tokenSent)) {
      return new HubError(
        'HUB_REPO_NOT_FOUND',
        `No model ${repo} on ${endpoint} (HTTP ${status}). Check the id; if it is private, set HF_TOKEN to a token that can read it${
          context.tokenSent ? ' (the token in HF_TOKEN cannot)' : ''
        }.`,
        withStatus,
      );
    }
    if (status === 401 || status === 403) {
      return new HubError(
        'HUB_ACCESS_DENIED',
        `${endpoint} refused access to ${repo} (HTTP ${status}): ${
          context.tokenSent
            ? 'the token in HF_TOKEN is invalid, expired or lacks the "read" permission'
            : 'it needs an access token'
        }. Set HF_TOKEN to a valid read token (https://huggingface.co/settings/tokens).`,
        withStatus,
      );
    }
    return new HubError(
      'HUB_DOWNLOAD_FAILED',
      `${endpoint} answered HTTP ${status} for ${repo}@${revision}${context.file ? ` ${context.file}` : ''}: ${context.redact(
        (error as Error).message,
      )}. Try again later, or set HF_HUB_OFFLINE=1 to use only what is cached in ${cacheDir}.`,
      withStatus,
    );
  }
  if (isFuseChatError(error)) {
    return new HubError('HUB_DOWNLOAD_FAILED', context.redact(error.message), fields);
  }
  return new HubError(
    'HUB_DOWNLOAD_FAILED',
    `Could not download ${repo}@${revision}${context.file ? ` ${context.file}` : ''} from ${endpoint}: ${context.redact(
      describeNetworkError(error),
    )}.${context.file ? ' What arrived is kept and resumed on the next run.' : ''} Check the network and HF_ENDPOINT, or set HF_HUB_OFFLINE=1 to use only what is cached in ${cacheDir}.`,
    fields,
  );
}

/** Whether retrying may help: a network failure, a stall, or a 5xx / 429 answer. */
export function isTransient(error: unknown): boolean {
  if (error instanceof HubError) {
    if (error.code === 'HUB_DOWNLOAD_CORRUPT') return true;
    return (
      error.code === 'HUB_DOWNLOAD_FAILED' &&
      (error.status === undefined || error.status >= 500 || error.status === 429)
    );
  }
  if (isHubApiError(error)) return error.statusCode >= 500 || error.statusCode === 429;
  return error instanceof Error || typeof error === 'string';
}

/**
 * `@huggingface/hub`'s `HubApiError` (`statusCode`, `url`), recognised by shape so that resolving
 * from disk never loads that library (it is imported only to download).
 */
function isHubApiError(error: unknown): error is Error & { statusCode: number; url: string } {
  return (
    error instanceof Error &&
    typeof (error as { statusCode?: unknown }).statusCode === 'number' &&
    typeof (error as { url?: unknown }).url === 'string'
  );
}

function describeNetworkError(error: unknown): string {
  if (typeof error === 'string') return error;
  if (!(error instanceof Error)) return String(error);
  const cause = (error as { cause?: unknown }).cause;
  const causeCode = (cause as { code?: unknown } | undefined)?.code;
  const causeMessage = cause instanceof Error ? cause.message : undefined;
  return [error.message, typeof causeCode === 'string' ? causeCode : causeMessage].filter(Boolean).join(': ');
}
