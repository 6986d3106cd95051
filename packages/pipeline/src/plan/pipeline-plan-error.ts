import { FuseChatError } from '@fusechat/core';

/** One stage that does not fit, and by how much. */
export interface PlanShortfall {
  readonly stage: string;
  readonly resource: 'disk' | 'memory';
  /** Bytes the stage needs: its peak memory, or the run's disk use once it has finished. */
  readonly neededBytes: number;
  readonly availableBytes: number;
  /** `neededBytes − availableBytes`. */
  readonly shortfallBytes: number;
}

/**
 * A plan that cannot run on this machine: `PIPELINE_PLAN_DOES_NOT_FIT`, with every stage that
 * does not fit in `shortfalls` (also in `details.shortfalls`).
 */
export class PipelinePlanError extends FuseChatError {
  readonly shortfalls: readonly PlanShortfall[];
  constructor(message: string, shortfalls: readonly PlanShortfall[]) {
    super('PIPELINE_PLAN_DOES_NOT_FIT', message, { details: { shortfalls } });
    this.shortfalls = shortfalls;
  }
}
