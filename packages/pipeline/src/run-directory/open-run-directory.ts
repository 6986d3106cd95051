import { mkdir, readdir, readFile } from 'node:fs/promises';
import { acquireOutputLock, type OutputLock } from '@fusechat/core/node';
import type { ResolvedPipelineConfig } from '../config/resolved-pipeline-config.js';
import { hashValue } from './hash-inputs.js';
import { RunDirectoryMismatchError } from './run-directory-error.js';
import { type RunLayout, runLayout } from './run-layout.js';
import { writeJsonAtomic } from './write-json-atomic.js';

/** `pipeline.json` at the root of a run directory. */
export interface PipelineRecord {
  readonly formatVersion: 1;
  readonly name: string;
  /** `configHash` of the config the last run used. */
  readonly configHash: string;
  readonly config: ResolvedPipelineConfig;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/** An open run directory: its layout and the lock held on it. */
export interface OpenRunDirectory {
  readonly layout: RunLayout;
  readonly configHash: string;
  readonly createdAt: string;
  /** True when the directory was created by this call. */
  readonly created: boolean;
  release(): Promise<void>;
}

/**
 * `sha256:` of a resolved config (without the config as written, which differs by formatting
 * only): the `configHash` of `pipeline.json` and `results.json`.
 */
export function pipelineConfigHash(config: ResolvedPipelineConfig): string {
  const { input: _input, configPath: _path, ...resolved } = config;
  return hashValue(resolved);
}

/**
 * Opens (or creates) a pipeline's run directory: takes its output lock (a second `fusechat run`
 * of the same directory fails with `OUTPUT_LOCKED`), refuses a directory made by a pipeline of
 * another `name`, or one that holds files but no `pipeline.json`
 * ({@link RunDirectoryMismatchError}, `PIPELINE_RUN_DIR_MISMATCH`), and records the config in
 * `pipeline.json`. Release the lock with `release()`.
 *
 * @example
 * ```ts
 * const run = await openRunDirectory(config);
 * try { … } finally { await run.release(); }
 * ```
 */
export async function openRunDirectory(config: ResolvedPipelineConfig): Promise<OpenRunDirectory> {
  const layout = runLayout(config.runDir, config);
  const lock: OutputLock = await acquireOutputLock(config.runDir);
  try {
    const entries = await readdir(config.runDir).catch(() => undefined);
    let previous: PipelineRecord | undefined;
    if (entries !== undefined && entries.length > 0) {
      try {
        previous = JSON.parse(await readFile(layout.pipelineFile, 'utf8')) as PipelineRecord;
      } catch {
        throw new RunDirectoryMismatchError(
          `${config.runDir} is not empty and has no readable pipeline.json, so it is not the run directory of pipeline "${config.name}"; choose another run_dir or empty it.`,
          { path: config.runDir, expected: config.name },
        );
      }
      if (previous.name !== config.name) {
        throw new RunDirectoryMismatchError(
          `${config.runDir} is the run directory of pipeline "${previous.name}", not "${config.name}"; set run_dir to another directory (or rename the pipeline back).`,
          { path: config.runDir, expected: config.name, found: previous.name },
        );
      }
    }
    await mkdir(config.runDir, { recursive: true });
    const now = new Date().toISOString();
    const configHash = pipelineConfigHash(config);
    const createdAt = previous?.createdAt ?? now;
    const record: PipelineRecord = {
      formatVersion: 1,
      name: config.name,
      configHash,
      config,
      createdAt,
      updatedAt: now,
    };
    await writeJsonAtomic(layout.pipelineFile, record);
    return { layout, configHash, createdAt, created: previous === undefined, release: () => lock.release() };
  } catch (error) {
    await lock.release();
    throw error;
  }
}
