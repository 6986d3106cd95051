import { formatBytes } from '@fusechat/core';
import type { StagePrediction } from '../results/pipeline-results.js';
import { PipelinePlanError, type PlanShortfall } from './pipeline-plan-error.js';

/** What {@link checkPlanFits} compares the predictions against. */
export interface PlanLimits {
  readonly freeDiskBytes: number;
  /** Memory a stage may reach: available memory plus what the planning process already holds. */
  readonly memoryBytes: number;
  /** Per stage id: bytes its outputs already take in the run directory (a rerun only grows them). */
  readonly existingDiskBytes?: Readonly<Record<string, number>> | undefined;
}

/**
 * Every stage that does not fit: disk is cumulative (each stage's outputs stay in the run
 * directory, so a stage fits when the run's new bytes up to and including it fit the free space),
 * memory is per stage (stages run one after the other).
 *
 * @example
 * ```ts
 * planShortfalls(plan.stages, { freeDiskBytes: 1e9, memoryBytes: 4e9 }); // [] when it fits
 * ```
 */
export function planShortfalls(stages: readonly StagePrediction[], limits: PlanLimits): PlanShortfall[] {
  const shortfalls: PlanShortfall[] = [];
  let disk = 0;
  for (const stage of stages) {
    disk += Math.max(0, stage.diskBytes - (limits.existingDiskBytes?.[stage.id] ?? 0));
    if (disk > limits.freeDiskBytes) {
      shortfalls.push({
        stage: stage.id,
        resource: 'disk',
        neededBytes: disk,
        availableBytes: limits.freeDiskBytes,
        shortfallBytes: disk - limits.freeDiskBytes,
      });
    }
    if (stage.peakMemoryBytes > limits.memoryBytes) {
      shortfalls.push({
        stage: stage.id,
        resource: 'memory',
        neededBytes: stage.peakMemoryBytes,
        availableBytes: limits.memoryBytes,
        shortfallBytes: stage.peakMemoryBytes - limits.memoryBytes,
      });
    }
  }
  return shortfalls;
}

/**
 * Throws {@link PipelinePlanError} (`PIPELINE_PLAN_DOES_NOT_FIT`) naming every stage that does not
 * fit the disk or memory, and by how much.
 */
export function checkPlanFits(stages: readonly StagePrediction[], limits: PlanLimits): void {
  const shortfalls = planShortfalls(stages, limits);
  if (shortfalls.length > 0) throw planDoesNotFit(shortfalls);
}

/**
 * The {@link PipelinePlanError} for `shortfalls`: one `  - stage: …` line per stage and resource,
 * then what to do.
 */
export function planDoesNotFit(shortfalls: readonly PlanShortfall[]): PipelinePlanError {
  const lines = shortfalls.map(
    (item) =>
      `  - ${item.stage}: ${item.resource} ${formatBytes(item.neededBytes)} needed${item.resource === 'disk' ? ' (run total so far)' : ''}, ${formatBytes(item.availableBytes)} available — short by ${formatBytes(item.shortfallBytes)}`,
  );
  const stages = [...new Set(shortfalls.map((item) => item.stage))];
  return new PipelinePlanError(
    `The pipeline does not fit this machine (${stages.join(', ')}):\n${lines.join('\n')}\nFree disk space or choose another run_dir; for memory lower capture.max_length / batch_tokens or training.batch_size.`,
    shortfalls,
  );
}
