import { existsSync, readdirSync, statSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { formatBytes, InvalidInputError, isFuseChatError } from '@fusechat/core';
import { outputDirectoryProblems, removeStalePartials } from '@fusechat/core/node';
import { DTYPE_BYTES, type DType } from '@fusechat/safetensors';
import { builtinMergeMethods } from '../builtin-merge-methods.js';
import { type MergeConfig, parseMergeConfig } from '../config/merge-config.js';
import { createParameterResolver, layerIndexOf } from '../config/resolve-parameters.js';
import type { AnyMergeMethod } from '../merge-method.js';
import { createMergeRegistry } from '../merge-registry.js';
import type { MergeModelsOptions } from './merge-options.js';
import { closeInputs, type OpenedModel, openInputs } from './open-inputs.js';

const FLOAT_DTYPES: ReadonlySet<DType> = new Set(['F32', 'F16', 'BF16', 'F64']);
const EMBEDDING_NAME = /embed_tokens|lm_head|wte|embed_out|word_embeddings|embeddings\.weight/;

/** One output tensor and how to make it. */
export interface PlannedTensor {
  readonly name: string;
  readonly shape: readonly number[];
  readonly numel: number;
  /** Output dtype. */
  readonly dtype: DType;
  /** Layer index from the name, if any. */
  readonly layer: number | undefined;
  /** Non-float tensors (position ids, masks) are copied from the reference model unchanged. */
  readonly copy: boolean;
  /** Parsed global parameters for this tensor. */
  readonly parameters: unknown;
  /** Parsed per-model parameters, aligned with `MergePlan.models`. */
  readonly perModel: readonly unknown[];
  /** Inputs (base first when read, then models) whose embedding rows are cropped to the output's. */
  readonly cropped: readonly string[];
}

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

function layerCountOf(config: Readonly<Record<string, unknown>>): number | undefined {
  for (const key of ['num_hidden_layers', 'n_layer', 'num_layers', 'n_layers']) {
    const value = config[key];
    if (typeof value === 'number' && Number.isInteger(value)) return value;
  }
  const text = config.text_config;
  return typeof text === 'object' && text !== null
    ? layerCountOf(text as Record<string, unknown>)
    : undefined;
}

function vocabSizeOf(config: Readonly<Record<string, unknown>>): number | undefined {
  const value = config.vocab_size;
  if (typeof value === 'number') return value;
  const text = config.text_config;
  return typeof text === 'object' && text !== null ? vocabSizeOf(text as Record<string, unknown>) : undefined;
}

const sameShape = (a: readonly number[], b: readonly number[]) =>
  a.length === b.length && a.every((d, i) => d === b[i]);
const shapeText = (shape: readonly number[]) => `[${shape.join(', ')}]`;

function summarise(names: readonly string[], limit = 5): string {
  return names.length <= limit
    ? names.join(', ')
    : `${names.slice(0, limit).join(', ')} and ${names.length - limit} more`;
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
  const problems: string[] = [];
  const warnings: string[] = config.ignoredKeys.map(
    (key) => `config key "${key}" is not used by fusechat (ignored)`,
  );

  let method: AnyMergeMethod | undefined;
  try {
    method = registry.get(config.mergeMethod);
  } catch (error) {
    problems.push(`merge_method: ${(error as Error).message}`);
  }

  const usesBase = method !== undefined && method.baseModel !== 'unused' && config.baseModel !== undefined;
  if (method?.baseModel === 'required' && config.baseModel === undefined) {
    problems.push(`base_model: ${method.name} merges deltas against a base model; set base_model`);
  }
  const methodModels = usesBase
    ? config.models.filter((model) => model.model !== config.baseModel)
    : config.models;
  if (method) {
    const { min, max } = method.modelCount;
    if (methodModels.length < min || (max !== undefined && methodModels.length > max)) {
      const range =
        max === undefined ? `at least ${min}` : min === max ? `exactly ${min}` : `${min} to ${max}`;
      problems.push(
        `models: ${method.name} merges ${range} model${max === 1 ? '' : 's'}${usesBase ? ' besides the base' : ''}, got ${methodModels.length}`,
      );
    }
  }

  const out = resolve(cwd, options.out);
  // Partial outputs of merges whose process no longer runs are garbage: remove them.
  const removed = await removeStalePartials(out);
  if (removed.length > 0) {
    warnings.push(`removed ${removed.join(', ')}: left by an interrupted merge whose process no longer runs`);
  }
  // An --overwrite merge killed between its two renames leaves the previous output set aside.
  const parentIsDirectory = statSync(dirname(out), { throwIfNoEntry: false })?.isDirectory() ?? false;
  const setAside = (parentIsDirectory ? readdirSync(dirname(out), { withFileTypes: true }) : [])
    .filter((entry) => entry.isDirectory() && entry.name.startsWith(`${basename(out)}.replaced-`))
    .map((entry) => join(dirname(out), entry.name));
  if (setAside.length > 0) {
    warnings.push(
      `${setAside.join(', ')}: the previous ${basename(out)}, set aside by an interrupted --overwrite merge; move it back or delete it`,
    );
  }

  const references = [
    ...(config.baseModel ? [{ reference: config.baseModel, field: 'base_model' }] : []),
    ...config.models.map((model, index) => ({ reference: model.model, field: `models[${index}].model` })),
    ...(config.tokenizerSource ? [{ reference: config.tokenizerSource, field: 'tokenizer_source' }] : []),
  ];
  options.onProgress?.({ task: 'preflight', completed: 0, total: references.length, unit: 'models' });
  const opened = await openInputs(references, cwd, problems);
  // The output may not be, contain or lie inside an input or the working directory; its
  // parent must be a writable directory; an existing output needs --overwrite.
  for (const problem of await outputDirectoryProblems(out, {
    inputs: references.map(({ reference }) => resolve(cwd, reference)),
    overwrite: options.overwrite,
    cwd,
  })) {
    problems.push(`out: ${problem.message.replace(/^--out /, '')}`);
  }
  options.onProgress?.({
    task: 'preflight',
    completed: references.length,
    total: references.length,
    unit: 'models',
  });

  try {
    const referenceName = config.baseModel ?? config.models[0]?.model;
    const reference = referenceName === undefined ? undefined : opened.get(referenceName);
    const base = usesBase && config.baseModel ? opened.get(config.baseModel) : undefined;
    const models = methodModels.map((model) => opened.get(model.model));
    const tokenizerSource = config.tokenizerSource ? opened.get(config.tokenizerSource) : reference;
    if (!reference) throw preflightError(problems, warnings);
    // Models that failed to open are already reported; check the others all the same (also under
    // an unknown method, so one run lists the header problems too).
    const readModels = [...(base ? [base] : []), ...models.filter((model) => model !== undefined)];

    // Layer counts and vocabulary sizes from config.json.
    const layerCounts = new Map(readModels.map((model) => [model.reference, layerCountOf(model.config)]));
    const referenceLayers = layerCountOf(reference.config);
    for (const [name, count] of layerCounts) {
      if (count !== referenceLayers) {
        problems.push(
          `${name}: config.json has ${count ?? 'no'} layers (num_hidden_layers) but ${reference.reference} has ${referenceLayers ?? 'none'}; fusechat merges models of the same depth`,
        );
      }
    }
    const referenceVocab = vocabSizeOf(reference.config);
    for (const model of [...readModels, ...(tokenizerSource ? [tokenizerSource] : [])]) {
      const vocab = vocabSizeOf(model.config);
      if (vocab === referenceVocab || model === reference) continue;
      const message = `${model.reference}: vocab_size ${vocab} differs from ${reference.reference}'s ${referenceVocab}`;
      if (config.vocabMismatch === 'error') problems.push(`${message} (vocab_mismatch: error)`);
      else if (model === tokenizerSource)
        problems.push(`${message}: its tokenizer does not fit the merged embeddings`);
      else if (vocab !== undefined && referenceVocab !== undefined && vocab < referenceVocab) {
        problems.push(`${message}: a smaller vocabulary cannot be cropped to the base's`);
      } else
        warnings.push(
          `${message}: its embedding rows beyond ${referenceVocab} are cropped (vocab_mismatch: crop)`,
        );
    }

    // Tensor names, shapes and dtypes from the safetensors headers.
    const referenceTensors = reference.checkpoint.tensors;
    let maxLayer = -1;
    for (const name of referenceTensors.keys()) maxLayer = Math.max(maxLayer, layerIndexOf(name) ?? -1);
    const layerCount = referenceLayers ?? maxLayer + 1;
    const crops = new Map<string, string[]>();
    for (const model of readModels) {
      if (model === reference) continue;
      const missing: string[] = [];
      const mismatched: string[] = [];
      for (const [name, info] of referenceTensors) {
        const other = model.checkpoint.tensors.get(name);
        if (!other) {
          // Non-float tensors (position ids, masks) are copied from the reference model.
          if (FLOAT_DTYPES.has(info.dtype)) missing.push(name);
          continue;
        }
        const floatPair = FLOAT_DTYPES.has(info.dtype) && FLOAT_DTYPES.has(other.dtype);
        if (FLOAT_DTYPES.has(info.dtype) && !FLOAT_DTYPES.has(other.dtype)) {
          mismatched.push(
            `${name} is ${other.dtype}, expected a float dtype like the reference's ${info.dtype}`,
          );
        }
        if (sameShape(info.shape, other.shape) || !floatPair) continue;
        const isEmbedding =
          info.shape.length === 2 &&
          other.shape.length === 2 &&
          other.shape[1] === info.shape[1] &&
          (EMBEDDING_NAME.test(name) || other.shape[0] === vocabSizeOf(model.config));
        if (isEmbedding && other.shape[0]! > info.shape[0]! && config.vocabMismatch === 'crop') {
          crops.set(name, [...(crops.get(name) ?? []), model.reference]);
          continue;
        }
        const why = isEmbedding
          ? other.shape[0]! > info.shape[0]!
            ? ' (vocab_mismatch: error)'
            : ' (a smaller vocabulary cannot be cropped to the base’s)'
          : '';
        mismatched.push(
          `${name} has shape ${shapeText(other.shape)}, expected ${shapeText(info.shape)}${why}`,
        );
      }
      if (missing.length > 0) {
        problems.push(
          `${model.reference}: lacks ${missing.length} tensor${missing.length === 1 ? '' : 's'} of ${reference.reference}: ${summarise(missing)}`,
        );
      }
      if (mismatched.length > 0)
        problems.push(
          `${model.reference}: ${mismatched.length} mismatched tensor(s): ${summarise(mismatched, 3)}`,
        );
      const extra = [...model.checkpoint.tensors.keys()].filter((name) => !referenceTensors.has(name));
      if (extra.length > 0)
        warnings.push(
          `${model.reference}: ${extra.length} tensor(s) not in ${reference.reference} are ignored: ${summarise(extra)}`,
        );
    }
    for (const [name, from] of crops)
      warnings.push(`${name}: rows cropped to ${referenceTensors.get(name)!.shape[0]} in ${from.join(', ')}`);

    // Parameters, resolved and validated for every tensor (grouped so one mistake is one line).
    const resolver = createParameterResolver(config, layerCount);
    const parameterProblems = new Map<string, { count: number; example: string }>();
    const note = (message: string, tensorName: string) => {
      const entry = parameterProblems.get(message);
      if (entry) entry.count++;
      else parameterProblems.set(message, { count: 1, example: tensorName });
    };
    const globalNames = method ? Object.keys(method.parameters) : [];
    const perModelNames = method ? Object.keys(method.perModelParameters) : [];
    const uncovered: string[] = [];
    const tensors: PlannedTensor[] = [];
    let inputBytes = 0;
    let outputBytes = 0;
    for (const [name, info] of referenceTensors) {
      const copy = !FLOAT_DTYPES.has(info.dtype);
      const dtype: DType = copy ? info.dtype : (config.outDtype ?? config.dtype ?? info.dtype);
      const layer = layerIndexOf(name);
      if (resolver.position(name) === undefined) uncovered.push(name);
      let parameters: unknown;
      const perModel: unknown[] = [];
      if (!copy && method) {
        try {
          parameters = method.parseParameters(resolver.global(globalNames, name), 'parameters');
        } catch (error) {
          for (const problem of problemsOf(error)) note(problem, name);
        }
        models.forEach((model) => {
          if (model === undefined) return;
          try {
            perModel.push(
              method.parsePerModelParameters(
                resolver.perModel(perModelNames, model!.reference, name),
                `models[${config.models.findIndex((entry) => entry.model === model!.reference)}].parameters`,
              ),
            );
          } catch (error) {
            for (const problem of problemsOf(error)) note(`${problem} (model ${model!.reference})`, name);
          }
        });
        if (parameters !== undefined && perModel.length === models.length && method.checkParameters) {
          for (const problem of method.checkParameters({ tensorName: name, parameters, models: perModel })) {
            note(problem.replaceAll(name, '<tensor>'), name);
          }
        }
      }
      const readCount = copy ? 1 : readModels.length;
      inputBytes += readCount * info.byteLength;
      outputBytes += info.numel * DTYPE_BYTES[dtype];
      tensors.push({
        name,
        shape: info.shape,
        numel: info.numel,
        dtype,
        layer,
        copy,
        parameters,
        perModel,
        cropped: crops.get(name) ?? [],
      });
    }
    for (const [message, { count, example }] of parameterProblems) {
      problems.push(
        count === 1 ? `${message} [${example}]` : `${message} [${count} tensors, e.g. ${example}]`,
      );
    }
    if (uncovered.length > 0) {
      problems.push(
        `slices: no slice covers the layers of ${uncovered.length} tensor(s): ${summarise(uncovered)}`,
      );
    }
    const lastSliceEnd = config.slices.at(-1)?.layerRange[1];
    if (lastSliceEnd !== undefined && lastSliceEnd !== layerCount) {
      problems.push(
        `slices: the slices end at layer ${lastSliceEnd} but the models have ${layerCount} layers`,
      );
    }

    const used = new Set([...globalNames, ...perModelNames]);
    const written = new Set<string>([
      ...Object.keys(config.parameters),
      ...config.models.flatMap((model) => Object.keys(model.parameters)),
      ...config.slices.flatMap((slice) => [
        ...Object.keys(slice.parameters),
        ...[...slice.modelParameters.values()].flatMap((parameters) => Object.keys(parameters)),
      ]),
    ]);
    for (const name of written) {
      if (method && !used.has(name))
        warnings.push(`parameter "${name}" is not used by ${method.name} (ignored)`);
    }

    const free = await freeBytes(out);
    if (free !== undefined && free < outputBytes) {
      problems.push(
        `out: the merged model needs about ${formatBytes(outputBytes)} but only ${formatBytes(free)} is free there`,
      );
    }

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

function problemsOf(error: unknown): string[] {
  if (isFuseChatError(error) && Array.isArray(error.details.problems))
    return error.details.problems as string[];
  return [error instanceof Error ? error.message : String(error)];
}

async function freeBytes(out: string): Promise<number | undefined> {
  let dir = dirname(out);
  while (!existsSync(dir) && dirname(dir) !== dir) dir = dirname(dir);
  try {
    const stats = await statfs(dir);
    return stats.bavail * stats.bsize;
  } catch {
    return undefined;
  }
}

function preflightError(problems: readonly string[], warnings: readonly string[]): InvalidInputError {
  return new InvalidInputError(
    `Merge preflight found ${problems.length} problem${problems.length === 1 ? '' : 's'} (nothing was written):\n  - ${problems.join('\n  - ')}`,
    { code: 'MERGE_PREFLIGHT_FAILED', details: { problems, warnings } },
  );
}
