import type { Logger, ProgressCallback, ProgressEvent } from '@fusechat/core';
import type { ResolvedPipelineConfig } from '../config/resolved-pipeline-config.js';
import type { FileHasher } from '../run-directory/hash-inputs.js';
import type { RunLayout } from '../run-directory/run-layout.js';

/** What every stage of a run shares. */
export interface PipelineContext {
  readonly config: ResolvedPipelineConfig;
  readonly layout: RunLayout;
  readonly hasher: FileHasher;
  readonly log: Logger;
  /** Progress of the running stage; `task` is the stage id (`capture/pivot`). */
  readonly onProgress?: ProgressCallback | undefined;
  readonly signal?: AbortSignal | undefined;
  /** Data-parallel replicas of every train stage (`train({ workers })`; default 1). */
  readonly trainingWorkers?: number | 'auto' | undefined;
}

/** A logger that prefixes every line with `[stage]`. */
export function stageLogger(log: Logger, stage: string): Logger {
  const prefix = `[${stage}] `;
  return {
    debug: (message, fields) => log.debug(prefix + message, fields),
    info: (message, fields) => log.info(prefix + message, fields),
    warn: (message, fields) => log.warn(prefix + message, fields),
    error: (message, fields) => log.error(prefix + message, fields),
  };
}

/** Progress events of a library call relabelled with the stage id as their task. */
export function stageProgress(context: PipelineContext, stage: string): ProgressCallback {
  return (event: ProgressEvent) =>
    context.onProgress?.({ ...event, task: stage, detail: event.detail ?? event.task });
}
