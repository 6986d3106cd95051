// The merge preflight as a list of small named checks, one per class of problem. Each takes what
// it needs and reports into a PreflightReport; preflightMerge runs them in order.
import { readdirSync, statSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { formatBytes, isFuseChatError } from '@fusechat/core';
import { outputDirectoryProblems, removeStalePartials } from '@fusechat/core/node';
import { DTYPE_BYTES, type DType } from '@fusechat/safetensors';
import type { MergeConfig } from '../config/merge-config.js';
import { createParameterResolver, layerIndexOf } from '../config/resolve-parameters.js';
import type { AnyMergeMethod } from '../merge-method.js';
import type { MergeRegistry } from '../merge-registry.js';
import type { OpenedModel } from './open-inputs.js';

/** Problems (the merge cannot run) and warnings (it runs, but look) found so far. */
export interface PreflightReport {
  readonly problems: string[];
  readonly warnings: string[];
}

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

export const FLOAT_DTYPES: ReadonlySet<DType> = new Set(['F32', 'F16', 'BF16', 'F64']);
const EMBEDDING_NAME = /embed_tokens|lm_head|wte|embed_out|word_embeddings|embeddings\.weight/;

/** The merge method the config names, or a problem listing the known ones. */
export function checkMergeMethod(
  config: MergeConfig,
  registry: MergeRegistry,
  report: PreflightReport,
): AnyMergeMethod | undefined {
  try {
    return registry.get(config.mergeMethod);
  } catch (error) {
    report.problems.push(`merge_method: ${(error as Error).message}`);
    return undefined;
  }
}

/** A base model where the method needs one, and as many models as it merges. */
export function checkModelCount(
  config: MergeConfig,
  method: AnyMergeMethod | undefined,
  report: PreflightReport,
): void {
  const usesBase = usesBaseModel(config, method);
  if (method?.baseModel === 'required' && config.baseModel === undefined) {
    report.problems.push(`base_model: ${method.name} merges deltas against a base model; set base_model`);
  }
  if (!method) return;
  const count = methodModelsOf(config, method).length;
  const { min, max } = method.modelCount;
  if (count < min || (max !== undefined && count > max)) {
    const range = max === undefined ? `at least ${min}` : min === max ? `exactly ${min}` : `${min} to ${max}`;
    report.problems.push(
      `models: ${method.name} merges ${range} model${max === 1 ? '' : 's'}${usesBase ? ' besides the base' : ''}, got ${count}`,
    );
  }
}

/** The method reads the base model. */
export function usesBaseModel(config: MergeConfig, method: AnyMergeMethod | undefined): boolean {
  return method !== undefined && method.baseModel !== 'unused' && config.baseModel !== undefined;
}

/** The config's models the method merges (without the base when it reads one). */
export function methodModelsOf(config: MergeConfig, method: AnyMergeMethod | undefined) {
  return usesBaseModel(config, method)
    ? config.models.filter((model) => model.model !== config.baseModel)
    : config.models;
}

/**
 * What interrupted merges left beside `out`: partial outputs of processes that no longer run are
 * removed (and said so); a previous output set aside by a killed `--overwrite` merge is a warning.
 */
export async function checkLeftoverOutputs(out: string, report: PreflightReport): Promise<void> {
  const removed = await removeStalePartials(out);
  if (removed.length > 0) {
    report.warnings.push(
      `removed ${removed.join(', ')}: left by an interrupted merge whose process no longer runs`,
    );
  }
  const parentIsDirectory = statSync(dirname(out), { throwIfNoEntry: false })?.isDirectory() ?? false;
  const setAside = (parentIsDirectory ? readdirSync(dirname(out), { withFileTypes: true }) : [])
    .filter((entry) => entry.isDirectory() && entry.name.startsWith(`${basename(out)}.replaced-`))
    .map((entry) => join(dirname(out), entry.name));
  if (setAside.length > 0) {
    report.warnings.push(
      `${setAside.join(', ')}: the previous ${basename(out)}, set aside by an interrupted --overwrite merge; move it back or delete it`,
    );
  }
}

/**
 * The output may not be, contain or lie inside an input or the working directory; its parent must
 * be a writable directory; an existing output needs `overwrite`.
 */
export async function checkOutputDirectory(
  out: string,
  inputs: readonly string[],
  options: { overwrite?: boolean | undefined; cwd: string },
  report: PreflightReport,
): Promise<void> {
  for (const problem of await outputDirectoryProblems(out, {
    inputs: inputs.map((input) => resolve(options.cwd, input)),
    overwrite: options.overwrite,
    cwd: options.cwd,
  })) {
    report.problems.push(`out: ${problem.message.replace(/^--out /, '')}`);
  }
}

/** Every model has the reference's layer count; returns it (or the headers' when config.json has none). */
export function checkLayerCounts(
  reference: OpenedModel,
  models: readonly OpenedModel[],
  report: PreflightReport,
): number {
  const referenceLayers = layerCountOf(reference.config);
  for (const model of models) {
    const count = layerCountOf(model.config);
    if (count !== referenceLayers) {
      report.problems.push(
        `${model.reference}: config.json has ${count ?? 'no'} layers (num_hidden_layers) but ${reference.reference} has ${referenceLayers ?? 'none'}; fusechat merges models of the same depth`,
      );
    }
  }
  let maxLayer = -1;
  for (const name of reference.checkpoint.tensors.keys())
    maxLayer = Math.max(maxLayer, layerIndexOf(name) ?? -1);
  return referenceLayers ?? maxLayer + 1;
}

/** Vocabulary sizes: larger ones are cropped (`vocab_mismatch: crop`), never the tokenizer source's or smaller ones. */
export function checkVocabularies(
  config: MergeConfig,
  reference: OpenedModel,
  models: readonly OpenedModel[],
  tokenizerSource: OpenedModel | undefined,
  report: PreflightReport,
): void {
  const referenceVocab = vocabSizeOf(reference.config);
  for (const model of [...models, ...(tokenizerSource ? [tokenizerSource] : [])]) {
    const vocab = vocabSizeOf(model.config);
    if (vocab === referenceVocab || model === reference) continue;
    const message = `${model.reference}: vocab_size ${vocab} differs from ${reference.reference}'s ${referenceVocab}`;
    if (config.vocabMismatch === 'error') report.problems.push(`${message} (vocab_mismatch: error)`);
    else if (model === tokenizerSource)
      report.problems.push(`${message}: its tokenizer does not fit the merged embeddings`);
    else if (vocab !== undefined && referenceVocab !== undefined && vocab < referenceVocab) {
      report.problems.push(`${message}: a smaller vocabulary cannot be cropped to the base's`);
    } else
      report.warnings.push(
        `${message}: its embedding rows beyond ${referenceVocab} are cropped (vocab_mismatch: crop)`,
      );
  }
}

/**
 * Tensor names, shapes and dtypes of every model against the reference's safetensors headers;
 * returns, per tensor, the models whose embedding rows are cropped to the reference's.
 */
export function checkTensorHeaders(
  config: MergeConfig,
  reference: OpenedModel,
  models: readonly OpenedModel[],
  report: PreflightReport,
): Map<string, string[]> {
  const referenceTensors = reference.checkpoint.tensors;
  const crops = new Map<string, string[]>();
  for (const model of models) {
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
      mismatched.push(`${name} has shape ${shapeText(other.shape)}, expected ${shapeText(info.shape)}${why}`);
    }
    if (missing.length > 0) {
      report.problems.push(
        `${model.reference}: lacks ${missing.length} tensor${missing.length === 1 ? '' : 's'} of ${reference.reference}: ${summarise(missing)}`,
      );
    }
    if (mismatched.length > 0)
      report.problems.push(
        `${model.reference}: ${mismatched.length} mismatched tensor(s): ${summarise(mismatched, 3)}`,
      );
    const extra = [...model.checkpoint.tensors.keys()].filter((name) => !referenceTensors.has(name));
    if (extra.length > 0)
      report.warnings.push(
        `${model.reference}: ${extra.length} tensor(s) not in ${reference.reference} are ignored: ${summarise(extra)}`,
      );
  }
  for (const [name, from] of crops)
    report.warnings.push(
      `${name}: rows cropped to ${referenceTensors.get(name)!.shape[0]} in ${from.join(', ')}`,
    );
  return crops;
}

/**
 * Every output tensor with its dtype and parameters resolved and validated (one line per distinct
 * mistake, with a count), and the bytes read and written; reports tensors no slice covers.
 */
export function planTensors(
  context: {
    config: MergeConfig;
    method: AnyMergeMethod | undefined;
    reference: OpenedModel;
    models: readonly (OpenedModel | undefined)[];
    readCount: number;
    layerCount: number;
    crops: ReadonlyMap<string, string[]>;
  },
  report: PreflightReport,
): { tensors: PlannedTensor[]; inputBytes: number; outputBytes: number } {
  const { config, method, models } = context;
  const resolver = createParameterResolver(config, context.layerCount);
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
  for (const [name, info] of context.reference.checkpoint.tensors) {
    const copy = !FLOAT_DTYPES.has(info.dtype);
    const dtype: DType = copy ? info.dtype : (config.outDtype ?? config.dtype ?? info.dtype);
    if (resolver.position(name) === undefined) uncovered.push(name);
    let parameters: unknown;
    const perModel: unknown[] = [];
    if (!copy && method) {
      try {
        parameters = method.parseParameters(resolver.global(globalNames, name), 'parameters');
      } catch (error) {
        for (const problem of problemsOf(error)) note(problem, name);
      }
      for (const model of models) {
        if (model === undefined) continue;
        try {
          perModel.push(
            method.parsePerModelParameters(
              resolver.perModel(perModelNames, model.reference, name),
              `models[${config.models.findIndex((entry) => entry.model === model.reference)}].parameters`,
            ),
          );
        } catch (error) {
          for (const problem of problemsOf(error)) note(`${problem} (model ${model.reference})`, name);
        }
      }
      if (parameters !== undefined && perModel.length === models.length && method.checkParameters) {
        for (const problem of method.checkParameters({ tensorName: name, parameters, models: perModel })) {
          note(problem.replaceAll(name, '<tensor>'), name);
        }
      }
    }
    inputBytes += (copy ? 1 : context.readCount) * info.byteLength;
    outputBytes += info.numel * DTYPE_BYTES[dtype];
    tensors.push({
      name,
      shape: info.shape,
      numel: info.numel,
      dtype,
      layer: layerIndexOf(name),
      copy,
      parameters,
      perModel,
      cropped: context.crops.get(name) ?? [],
    });
  }
  for (const [message, { count, example }] of parameterProblems) {
    report.problems.push(
      count === 1 ? `${message} [${example}]` : `${message} [${count} tensors, e.g. ${example}]`,
    );
  }
  checkSlices(config, uncovered, context.layerCount, report);
  return { tensors, inputBytes, outputBytes };
}

/** Slices cover every layered tensor and end at the models' depth. */
export function checkSlices(
  config: MergeConfig,
  uncovered: readonly string[],
  layerCount: number,
  report: PreflightReport,
): void {
  if (uncovered.length > 0) {
    report.problems.push(
      `slices: no slice covers the layers of ${uncovered.length} tensor(s): ${summarise(uncovered)}`,
    );
  }
  const lastSliceEnd = config.slices.at(-1)?.layerRange[1];
  if (lastSliceEnd !== undefined && lastSliceEnd !== layerCount) {
    report.problems.push(
      `slices: the slices end at layer ${lastSliceEnd} but the models have ${layerCount} layers`,
    );
  }
}

/** Parameters written in the config that the method does not read (a typo, usually). */
export function checkUnusedParameters(
  config: MergeConfig,
  method: AnyMergeMethod | undefined,
  report: PreflightReport,
): void {
  if (!method) return;
  const used = new Set([...Object.keys(method.parameters), ...Object.keys(method.perModelParameters)]);
  const written = new Set<string>([
    ...Object.keys(config.parameters),
    ...config.models.flatMap((model) => Object.keys(model.parameters)),
    ...config.slices.flatMap((slice) => [
      ...Object.keys(slice.parameters),
      ...[...slice.modelParameters.values()].flatMap((parameters) => Object.keys(parameters)),
    ]),
  ]);
  for (const name of written) {
    if (!used.has(name)) report.warnings.push(`parameter "${name}" is not used by ${method.name} (ignored)`);
  }
}

/** The output's file system has room for the merged weights. */
export async function checkFreeSpace(
  out: string,
  outputBytes: number,
  report: PreflightReport,
): Promise<void> {
  const free = await freeBytes(out);
  if (free !== undefined && free < outputBytes) {
    report.problems.push(
      `out: the merged model needs about ${formatBytes(outputBytes)} but only ${formatBytes(free)} is free there`,
    );
  }
}

async function freeBytes(out: string): Promise<number | undefined> {
  let dir = dirname(out);
  while (!(statSync(dir, { throwIfNoEntry: false })?.isDirectory() ?? false) && dirname(dir) !== dir)
    dir = dirname(dir);
  try {
    const stats = await statfs(dir);
    return stats.bavail * stats.bsize;
  } catch {
    return undefined;
  }
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

function problemsOf(error: unknown): string[] {
  if (isFuseChatError(error) && Array.isArray(error.details.problems))
    return error.details.problems as string[];
  return [error instanceof Error ? error.message : String(error)];
}
