import { rename } from 'node:fs/promises';
import { join } from 'node:path';
import { mergeModels } from '@fusechat/merge';
import type { MergeRecord } from '../results/pipeline-results.js';
import { runStage, type StageOutcome } from './run-stage.js';
import { type PipelineContext, stageProgress } from './stage-context.js';

/** What the merge stage records in its `stage.json`: the results' merge record. */
export interface MergeStageSummary extends Record<string, unknown> {
  readonly record: MergeRecord;
  readonly tensors: number;
  readonly outputBytes: number;
}

/**
 * `merge`: the targets merged against the pivot (`mergeModels` with a mergekit-style config:
 * `base_model` = pivot, one `models` entry per target with its per-target parameters, the
 * pipeline seed) into `merge/model`, the merge report as `merge/merge-report.{json,svg}`.
 */
export async function mergeStage(
  context: PipelineContext,
  upstream: { readonly pivotModel: string; readonly targets: Readonly<Record<string, string>> },
): Promise<StageOutcome<MergeStageSummary>> {
  const { config, layout } = context;
  const paths = layout.merge;
  const targets = config.sources.map((source) => source.name);
  const mergeConfig = {
    merge_method: config.merge.method,
    base_model: config.pivot.model,
    models: targets.map((name) => ({
      model: layout.train[name]!.modelDir,
      parameters: config.merge.models[name] ?? {},
    })),
    parameters: config.merge.parameters,
    seed: config.seed,
    ...(config.merge.dtype === undefined ? {} : { dtype: config.merge.dtype }),
  };
  const { base_model: _base, models: _models, ...settings } = mergeConfig;
  return runStage(context, {
    id: paths.id,
    kind: 'merge',
    dir: paths.dir,
    inputs: {
      pivotModel: upstream.pivotModel,
      ...Object.fromEntries(Object.entries(upstream.targets).map(([name, hash]) => [`train/${name}`, hash])),
    },
    config: { ...settings, targets, modelParameters: config.merge.models },
    run: async (log) => {
      const result = await mergeModels(mergeConfig, {
        out: paths.modelDir,
        overwrite: true,
        onProgress: stageProgress(context, paths.id),
        logger: log,
      });
      // The report belongs to the stage, not to the model directory.
      await rename(join(paths.modelDir, 'merge-report.json'), paths.reportJson);
      await rename(join(paths.modelDir, 'merge-report.svg'), paths.reportSvg);
      for (const warning of result.warnings) log.warn(warning);
      log.info(`${result.tensors} tensors merged with ${config.merge.method}`);
      const record: MergeRecord = {
        method: config.merge.method,
        parameters: config.merge.parameters,
        models: targets,
        tensorWeights: result.report.tensors
          .filter((tensor) => tensor.weights !== undefined)
          .map((tensor) => ({ tensor: tensor.name, weights: [...tensor.weights!] })),
      };
      return { record, tensors: result.tensors, outputBytes: result.outputBytes };
    },
  });
}
