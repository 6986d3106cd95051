import { readFile } from 'node:fs/promises';
import type { StageKind, StageStatus } from '../results/pipeline-results.js';
import { writeJsonAtomic } from './write-json-atomic.js';

export const STAGE_FORMAT_VERSION = 1;

/**
 * `stage.json` of a stage directory: what the stage's outputs were made from (`inputs`, each a
 * `sha256:` of a file, a model directory or an upstream stage's `inputsHash`, and `config`),
 * hashed together into `inputsHash`, and how it went. A rerun skips a stage whose status is
 * `complete` and whose recomputed `inputsHash` is equal; a stage with another `inputsHash` is
 * redone from scratch; an unfinished one with the same hash resumes from its partial outputs.
 */
export interface StageManifest {
  readonly formatVersion: typeof STAGE_FORMAT_VERSION;
  readonly id: string;
  readonly kind: StageKind;
  readonly status: Exclude<StageStatus, 'skipped'>;
  readonly inputsHash: string;
  readonly inputs: Readonly<Record<string, string>>;
  readonly config: unknown;
  readonly startedAt: string;
  readonly finishedAt?: string | undefined;
  readonly seconds?: number | undefined;
  readonly peakRssBytes?: number | undefined;
  readonly diskBytes?: number | undefined;
  /** What the stage reported (examples, steps, origins, …), read back by a rerun that skips it. */
  readonly summary?: Readonly<Record<string, unknown>> | undefined;
  readonly error?: { readonly code: string; readonly message: string } | undefined;
}

/** The manifest in `path`, or undefined when there is none (or it is unreadable: the stage reruns). */
export async function readStageManifest(path: string): Promise<StageManifest | undefined> {
  try {
    const value = JSON.parse(await readFile(path, 'utf8')) as StageManifest;
    return value.formatVersion === STAGE_FORMAT_VERSION && typeof value.inputsHash === 'string'
      ? value
      : undefined;
  } catch {
    return undefined;
  }
}

/** Writes a stage manifest with temp file + fsync + rename. */
export async function writeStageManifest(path: string, manifest: StageManifest): Promise<void> {
  await writeJsonAtomic(path, manifest);
}
