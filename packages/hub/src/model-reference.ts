import { HubError } from './hub-error.js';

/** A Hugging Face model id with the revision asked for. */
export interface HubModelId {
  /** `ORG/NAME`, as the Hub spells it. */
  readonly repo: string;
  /** Branch, tag or commit hash; `main` when the reference names none. */
  readonly revision: string;
  /** Whether the reference named the revision (`ORG/NAME@rev`). */
  readonly explicitRevision: boolean;
}

// huggingface_hub's `REPO_ID_REGEX` (utils/_validators.py): an optional namespace and a name of
// 1–96 characters from `\w - .`, each starting and ending on a word character. Python's `\w` is
// Unicode-aware: letters, digits and `_`.
const WORD = String.raw`[\p{L}\p{N}_]`;
const PART = String.raw`${WORD}(?:[\p{L}\p{N}_.\-]*${WORD})?`;
const NAME = String.raw`${WORD}(?:[\p{L}\p{N}_.\-]{0,94}${WORD})?`;
const REPO_ID = new RegExp(`^${PART}/${NAME}$`, 'u');

/** A 40-hex commit hash, as huggingface_hub's `REGEX_COMMIT_HASH`. */
export const COMMIT_HASH = /^[0-9a-f]{40}$/;

/**
 * Why `repo` is not a valid `ORG/NAME` id by huggingface_hub's rules (`validate_repo_id`), or
 * `undefined` when it is one.
 *
 * @example
 * ```ts
 * repoIdProblem('Qwen/Qwen2.5-0.5B-Instruct'); // undefined
 * repoIdProblem('org--x/name'); // 'cannot contain "--" or ".."'
 * ```
 */
export function repoIdProblem(repo: string): string | undefined {
  const slashes = repo.split('/').length - 1;
  if (slashes !== 1) return 'must have the form ORG/NAME (one "/")';
  if (!REPO_ID.test(repo)) {
    return 'must use letters, digits, "-", "_" or "." only, start and end each part with a letter or digit, and have a name of at most 96 characters';
  }
  if (repo.includes('--') || repo.includes('..')) return 'cannot contain "--" or ".."';
  if (repo.endsWith('.git')) return 'cannot end with ".git"';
  return undefined;
}

/** Why `revision` cannot be used (as a ref file path and URL segment), or `undefined`. */
export function revisionProblem(revision: string): string | undefined {
  if (revision.length === 0) return 'is empty';
  // Control characters and whitespace can never be part of a git ref name.
  if (/[\s\p{Cc}\\]/u.test(revision)) return 'contains whitespace, a control character or "\\"';
  if (revision.startsWith('/') || revision.endsWith('/')) return 'cannot start or end with "/"';
  if (revision.split('/').some((segment) => segment === '..' || segment === '.' || segment === '')) {
    return 'cannot contain empty, "." or ".." path segments';
  }
  return undefined;
}

/**
 * Reads `ORG/NAME[@revision]`. Returns `undefined` for what is shaped like a file path instead
 * (`./x`, `/abs`, `~/x`, `a/b/c`, `C:\x`), so the caller can report a missing path; throws
 * {@link HubError} `HUB_INVALID_REPO_ID` / `HUB_INVALID_REFERENCE` for an id-shaped reference
 * that breaks the Hub's rules. The revision may contain `/` (`refs/pr/1`); the id cannot contain `@`.
 *
 * @example
 * ```ts
 * parseModelId('Qwen/Qwen2.5-0.5B-Instruct@v1.0'); // { repo: 'Qwen/Qwen2.5-0.5B-Instruct', revision: 'v1.0', explicitRevision: true }
 * parseModelId('./models/pivot'); // undefined
 * ```
 */
export function parseModelId(reference: string): HubModelId | undefined {
  const at = reference.indexOf('@');
  const repo = at === -1 ? reference : reference.slice(0, at);
  if (!looksLikeRepoId(repo)) return undefined;
  const problem = repoIdProblem(repo);
  if (problem !== undefined) {
    throw new HubError(
      'HUB_INVALID_REPO_ID',
      `"${repo}" is not a valid Hugging Face model id: it ${problem}.`,
      {
        repo,
      },
    );
  }
  if (at === -1) return { repo, revision: 'main', explicitRevision: false };
  const revision = reference.slice(at + 1);
  const revisionIssue = revisionProblem(revision);
  if (revisionIssue !== undefined) {
    throw new HubError(
      'HUB_INVALID_REFERENCE',
      `"${reference}": the revision after "@" ${revisionIssue}; give a branch, tag or commit hash (ORG/NAME@main).`,
      { repo, revision },
    );
  }
  return { repo, revision, explicitRevision: true };
}

function looksLikeRepoId(candidate: string): boolean {
  if (/^[.~/\\]/.test(candidate) || candidate.includes('\\') || /^[A-Za-z]:/.test(candidate)) return false;
  const parts = candidate.split('/');
  return parts.length === 2 && parts[0] !== '' && parts[1] !== '';
}
