import { resolve } from 'node:path';
import { InvalidInputError } from '@fusechat/core';
import { builtinMergeMethods } from '../builtin-merge-methods.js';
import { type MergeConfig, parseMergeConfig } from '../config/merge-config.js';
import type { AnyMergeMethod } from '../merge-method.js';
import { createMergeRegistry } from '../merge-registry.js';
import type { MergeModelsOptions } from './merge-options.js';
import { closeInputs, type OpenedModel, openInputs } from './open-inputs.js';
import {
  checkFreeSpace,
  checkLayerCounts,
  checkLeftoverOutputs,
  checkMergeMethod,
  checkModelCount,
  checkOutputDirectory,
  checkTensorHeaders,
  checkUnusedParameters,
  checkVocabularies,
  methodModelsOf,
  type PlannedTensor,
  type PreflightReport,
  planTensors,
  usesBaseModel,
} from './preflight-checks.js';

export type { PlannedTensor } from './preflight-checks.js';

/** The outcome of the preflight: everything checked, nothing read but headers and configs. */
export interface MergePlan {
  readonly config: MergeConfig;
  readonly method: AnyMergeMethod;
  /** The base model when the method reads it. */
  readonly base: OpenedModel | undefined;
  /** The models handed to the method, in config order. */
  readonly models: readonly OpenedModel[];
  /** Where config.json / generation_config.json come from (the base, else the first model). */
  readonly reference: OpenedModel;
  /** Where tokenizer files come from. */
  readonly tokenizerSource: OpenedModel;
  readonly tensors: readonly PlannedTensor[];
  readonly layerCount: number;
  readonly warnings: readonly string[];
  /** Absolute output directory. */
  readonly out: string;
  /** Bytes of weights read (all inputs) and written. */
  readonly inputBytes: number;
  readonly outputBytes: number;
  /** Every opened checkpoint (close them with `closePlan`). */
  readonly opened: ReadonlyMap<string, OpenedModel>;
}

/** Closes the checkpoints a plan holds open. */
export async function closePlan(plan: MergePlan): Promise<void> {
  await closeInputs(plan.opened);
}

/**
 * Checks a merge before any weight is read — config, method and parameters for every tensor,
 * each input's `config.json` and safetensors headers (names, shapes, dtypes, layer counts,
 * vocabulary sizes), the output directory and free space — and reports every problem at once in
 * one `InvalidInputError` (`code: 'MERGE_PREFLIGHT_FAILED'`, `details.problems`).
 *
 * @example
 * ```ts
 * const plan = await preflightMerge(await loadMergeConfig('varm.yml'), { out: 'fused' });
 * console.log(plan.tensors.length, plan.warnings);
 * await closePlan(plan);
 * ```
 */
export async function preflightMerge(rawConfig: unknown, options: MergeModelsOptions): Promise<MergePlan> {
  const config = parseMergeConfig(rawConfig);
  const registry = options.registry ?? createMergeRegistry(builtinMergeMethods);
  const cwd = options.cwd ?? process.cwd();
  const report: PreflightReport = {
    problems: [],
    warnings: config.ignoredKeys.map((key) => `config key "${key}" is not used by fusechat (ignored)`),
  };
  const { problems, warnings } = report;

  const method = checkMergeMethod(config, registry, report);
  checkModelCount(config, method, report);
  const methodModels = methodModelsOf(config, method);
  const out = resolve(cwd, options.out);
  await checkLeftoverOutputs(out, report);

  const references = [
    ...(config.baseModel ? [{ reference: config.baseModel, field: 'base_model' }] : []),
    ...config.models.map((model, index) => ({ reference: model.model, field: `models[${index}].model` })),
    ...(config.tokenizerSource ? [{ reference: config.tokenizerSource, field: 'tokenizer_source' }] : []),
  ];
  options.onProgress?.({ task: 'preflight', completed: 0, total: references.length, unit: 'models' });
  const opened = await openInputs(references, cwd, problems, options.resolveModel);
  await checkOutputDirectory(
    out,
    references.map(({ reference }) => reference),
    { overwrite: options.overwrite, cwd },
    report,
  );
  options.onProgress?.({
    task: 'preflight',
    completed: references.length,
    total: references.length,
    unit: 'models',
  });

  try {
    const referenceName = config.baseModel ?? config.models[0]?.model;
    const reference = referenceName === undefined ? undefined : opened.get(referenceName);
    const base = usesBaseModel(config, method) && config.baseModel ? opened.get(config.baseModel) : undefined;
    const models = methodModels.map((model) => opened.get(model.model));
    const tokenizerSource = config.tokenizerSource ? opened.get(config.tokenizerSource) : reference;
    if (!reference) throw preflightError(problems, warnings);
    // Models that failed to open are already reported; check the others all the same (also under
    // an unknown method, so one run lists the header problems too).
    const readModels = [...(base ? [base] : []), ...models.filter((model) => model !== undefined)];

    const layerCount = checkLayerCounts(reference, readModels, report);
    checkVocabularies(config, reference, readModels, tokenizerSource, report);
    const crops = checkTensorHeaders(config, reference, readModels, report);
    const { tensors, inputBytes, outputBytes } = planTensors(
      { config, method, reference, models, readCount: readModels.length, layerCount, crops },
      report,
    );
    checkUnusedParameters(config, method, report);
    await checkFreeSpace(out, outputBytes, report);

    if (problems.length > 0 || !method || !tokenizerSource || models.some((model) => model === undefined)) {
      throw preflightError(problems, warnings);
    }
    for (const warning of warnings) options.logger?.warn(warning);
    return {
      config,
      method,
      base,
      models: models as OpenedModel[],
      reference,
      tokenizerSource,
      tensors,
      layerCount,
      warnings,
      out,
      inputBytes,
      outputBytes,
      opened,
    };
  } catch (error) {
    await closeInputs(opened);
    throw error;
  }
}

function preflightError(problems: readonly string[], warnings: readonly string[]): InvalidInputError {
  return new InvalidInputError(
    `Merge preflight found ${problems.length} problem${problems.length === 1 ? '' : 's'} (nothing was written):\n  - ${problems.join('\n  - ')}`,
    { code: 'MERGE_PREFLIGHT_FAILED', details: { problems, warnings } },
  );
}
