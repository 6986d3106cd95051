import type { PipelineResults } from '../results/pipeline-results.js';
import { runStage, type StageOutcome } from './run-stage.js';
import type { PipelineContext } from './stage-context.js';

/** Renders the run's report into the run directory (`report/index.html`). */
export type ReportHook = (results: PipelineResults, runDir: string) => Promise<void>;

/**
 * `report`: the HTML report of the results, by the caller's hook (the CLI passes the report
 * package's renderer). Its inputs are every other stage's hash, so an unchanged run keeps it.
 */
export async function reportStage(
  context: PipelineContext,
  results: PipelineResults,
  upstream: Readonly<Record<string, string>>,
  report: ReportHook,
): Promise<StageOutcome<Record<string, never>>> {
  const paths = context.layout.report;
  return runStage(context, {
    id: paths.id,
    kind: 'report',
    dir: paths.dir,
    inputs: upstream,
    config: { plan: results.plan !== undefined },
    run: async (log) => {
      await report(results, context.layout.runDir);
      log.info(`→ ${paths.indexHtml}`);
      return {};
    },
  });
}
