import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { FuseChatError, formatDuration, type Logger } from '@fusechat/core';
import type { StageKind, StageRecord } from '../results/pipeline-results.js';
import { hashValue } from '../run-directory/hash-inputs.js';
import { STAGE_FILE } from '../run-directory/run-layout.js';
import {
  readStageManifest,
  STAGE_FORMAT_VERSION,
  type StageManifest,
  writeStageManifest,
} from '../run-directory/stage-manifest.js';
import { PipelineStageError } from './pipeline-stage-error.js';
import { type PipelineContext, stageLogger } from './stage-context.js';

/** One stage to run: where it writes, what it depends on, and the work. */
export interface StageDefinition<Summary extends Record<string, unknown>> {
  readonly id: string;
  readonly kind: StageKind;
  readonly dir: string;
  /** `sha256:` of every input: files, model directories, upstream stages' `inputsHash`. */
  readonly inputs: Readonly<Record<string, string>>;
  /** The stage's settings that change its outputs. */
  readonly config: unknown;
  /** Does the work (resuming from partial outputs in `dir` when there are any) and summarises it. */
  run(log: Logger): Promise<Summary>;
}

/** What {@link runStage} did. */
export interface StageOutcome<Summary> {
  readonly record: StageRecord;
  readonly manifest: StageManifest;
  readonly summary: Summary;
  /** Upstream identity of this stage's outputs (its `inputsHash`). */
  readonly hash: string;
}

/**
 * Runs one stage with its manifest: skipped when `stage.json` says `complete` with the same
 * `inputsHash`; redone from an empty directory when the hash differs (saying which inputs
 * changed); resumed (outputs kept, the library call resumes them) when an earlier attempt with
 * the same hash failed or was killed. Writes `stage.json` as `running`, then `complete` or
 * `failed`; a failure is rethrown as {@link PipelineStageError} naming the stage.
 */
export async function runStage<Summary extends Record<string, unknown>>(
  context: PipelineContext,
  stage: StageDefinition<Summary>,
): Promise<StageOutcome<Summary>> {
  const log = stageLogger(context.log, stage.id);
  const stageFile = join(stage.dir, STAGE_FILE);
  const inputsHash = hashValue({ inputs: stage.inputs, config: stage.config });
  const previous = await readStageManifest(stageFile);
  if (previous?.status === 'complete' && previous.inputsHash === inputsHash) {
    log.info(`up to date (${formatDuration(previous.seconds ?? 0)} when it ran): skipped`);
    return {
      record: recordOf(previous, true),
      manifest: previous,
      summary: (previous.summary ?? {}) as Summary,
      hash: inputsHash,
    };
  }
  if (previous !== undefined && previous.inputsHash !== inputsHash) {
    const changed = Object.keys({ ...previous.inputs, ...stage.inputs }).filter(
      (key) => previous.inputs[key] !== stage.inputs[key],
    );
    const configChanged = hashValue(previous.config) !== hashValue(stage.config);
    log.info(
      `inputs changed (${[...changed, ...(configChanged ? ['config'] : [])].join(', ') || 'format'}): running again from scratch`,
    );
    await rm(stage.dir, { recursive: true, force: true });
  } else if (previous !== undefined) {
    log.info(`resuming the ${previous.status} attempt of ${previous.startedAt}`);
  } else {
    // Outputs without a manifest are not this stage's: start clean.
    await rm(stage.dir, { recursive: true, force: true });
  }

  const startedAt = new Date();
  const base = {
    formatVersion: STAGE_FORMAT_VERSION,
    id: stage.id,
    kind: stage.kind,
    inputsHash,
    inputs: stage.inputs,
    config: stage.config,
    startedAt: startedAt.toISOString(),
  } as const;
  await writeStageManifest(stageFile, { ...base, status: 'running' });
  const sampler = sampleRss();
  log.info('running');
  let summary: Summary;
  try {
    summary = await stage.run(log);
  } catch (error) {
    const peakRssBytes = sampler.stop();
    const failed: StageManifest = {
      ...base,
      status: 'failed',
      finishedAt: new Date().toISOString(),
      seconds: (Date.now() - startedAt.getTime()) / 1000,
      peakRssBytes,
      diskBytes: await diskBytes(stage.dir),
      error: {
        code: error instanceof FuseChatError ? error.code : 'UNEXPECTED',
        message: error instanceof Error ? error.message : String(error),
      },
    };
    await writeStageManifest(stageFile, failed).catch(() => undefined);
    log.error(`failed: ${failed.error!.message.split('\n')[0]}`);
    throw new PipelineStageError(stage.id, error);
  }
  const peakRssBytes = sampler.stop();
  const seconds = (Date.now() - startedAt.getTime()) / 1000;
  const manifest: StageManifest = {
    ...base,
    status: 'complete',
    finishedAt: new Date().toISOString(),
    seconds,
    peakRssBytes,
    diskBytes: await diskBytes(stage.dir),
    summary,
  };
  await writeStageManifest(stageFile, manifest);
  log.info(`done in ${formatDuration(seconds)}`);
  return { record: recordOf(manifest, false), manifest, summary, hash: inputsHash };
}

function recordOf(manifest: StageManifest, reused: boolean): StageRecord {
  return {
    kind: manifest.kind,
    id: manifest.id,
    status: manifest.status,
    reused,
    seconds: manifest.seconds ?? 0,
    peakRssBytes: manifest.peakRssBytes ?? 0,
    diskBytes: manifest.diskBytes ?? 0,
    ...(manifest.error === undefined ? {} : { error: manifest.error }),
  };
}

/** Samples the resident set size until `stop()`, which returns the peak. */
function sampleRss(): { stop(): number } {
  let peak = process.memoryUsage.rss();
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 200);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      return Math.max(peak, process.memoryUsage.rss());
    },
  };
}

/** Bytes of every regular file under `dir`. */
export async function diskBytes(dir: string): Promise<number> {
  let total = 0;
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += await diskBytes(path);
    else if (entry.isFile()) total += (await stat(path).catch(() => ({ size: 0 }))).size;
  }
  return total;
}
