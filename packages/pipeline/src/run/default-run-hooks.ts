import type { Logger } from '@fusechat/core';
import { planInputFromConfig, planPipeline, planRecord } from '../plan/index.js';
import { writeReport } from '../report/index.js';
import type { RunPipelineOptions } from './run-pipeline.js';

/**
 * The planner and the report `fusechat run` and `fusechat demo` give {@link runPipeline}: the
 * plan is made (and a plan that cannot fit refused, `PIPELINE_PLAN_DOES_NOT_FIT`) before the
 * first stage runs and stored as `plan.json`; the report is written as `report/index.html` after
 * the last. `runPipeline` itself takes them as options so tests and other front ends choose.
 *
 * @example
 * ```ts
 * const config = await loadPipelineConfig('pipeline.yml');
 * await runPipeline(config, { ...defaultRunHooks({ logger }), log: logger });
 * ```
 */
export function defaultRunHooks(
  options: {
    readonly logger?: Logger;
    readonly plan?: boolean;
    /** Replicas the train stages will use, so the plan calibrates training with them. */
    readonly trainingWorkers?: number | 'auto' | undefined;
  } = {},
): Pick<RunPipelineOptions, 'plan' | 'report'> {
  const { logger } = options;
  return {
    report: async (results, runDir) => {
      await writeReport(results, runDir);
    },
    ...(options.plan === false
      ? {}
      : {
          plan: async (config) =>
            planRecord(
              await planPipeline(planInputFromConfig(config), {
                ...(logger === undefined ? {} : { logger }),
                trainingWorkers: options.trainingWorkers,
              }),
            ),
        }),
  };
}
