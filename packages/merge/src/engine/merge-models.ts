import { existsSync } from 'node:fs';
import { copyFile, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createRandom, FuseChatError, NumericalError } from '@fusechat/core';
import { createCheckpointWriter } from '@fusechat/safetensors';
import { meanSquaredDifference } from '../kernels/weighted-sum.js';
import type { MergeTensorResult } from '../merge-method.js';
import type { MergeModelsOptions } from './merge-options.js';
import { type MergeReport, renderReportSvg, summariseLayers, type TensorReport } from './merge-report.js';
import { closePlan, type MergePlan, type PlannedTensor, preflightMerge } from './preflight.js';

const DEFAULT_MAX_SHARD_BYTES = 5_000_000_000;
const CONFIG_FILES = ['config.json', 'generation_config.json'];
const TOKENIZER_FILES = [
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'tokenizer.model',
  'vocab.json',
  'merges.txt',
  'added_tokens.json',
  'chat_template.jinja',
  'chat_template.json',
];
const TORCH_DTYPES: Readonly<Record<string, string>> = {
  F32: 'float32',
  F16: 'float16',
  BF16: 'bfloat16',
  F64: 'float64',
};

/** What `mergeModels` returns. */
export interface MergeModelsResult {
  /** Absolute output directory. */
  readonly out: string;
  readonly tensors: number;
  readonly seconds: number;
  readonly inputBytes: number;
  readonly outputBytes: number;
  readonly warnings: readonly string[];
  readonly report: MergeReport;
}

/**
 * Merges Hugging Face checkpoints as a mergekit-style config says, streaming one tensor name at
 * a time across all inputs (peak memory ≈ (inputs + 1) × the largest tensor, twice that with
 * `prefetch`). Everything is checked first (see `preflightMerge`); the output is written to
 * `<out>.partial-<pid>` and renamed into place only when complete, with `merge-report.json`
 * and `merge-report.svg` beside the weights.
 *
 * @example
 * ```ts
 * import { loadMergeConfig, mergeModels } from '@fusechat/merge';
 * const result = await mergeModels(await loadMergeConfig('varm.yml'), {
 *   out: 'fused-model',
 *   onProgress: (event) => console.log(event.completed, '/', event.total),
 * });
 * console.log(result.report.tensors[0]?.weights);
 * ```
 */
export async function mergeModels(config: unknown, options: MergeModelsOptions): Promise<MergeModelsResult> {
  const started = performance.now();
  const plan = await preflightMerge(config, options);
  const temp = `${plan.out}.partial-${process.pid}`;
  try {
    await rm(temp, { recursive: true, force: true });
    const tensorReports = await writeWeights(plan, temp, options);
    await copySideFiles(plan, temp);
    const seconds = (performance.now() - started) / 1000;
    const modelNames = plan.models.map((model) => model.reference);
    const report: MergeReport = {
      formatVersion: 1,
      mergeMethod: plan.method.name,
      baseModel: plan.config.baseModel,
      models: modelNames,
      seed: plan.config.seed,
      config,
      warnings: plan.warnings,
      tensors: tensorReports,
      layers: summariseLayers(tensorReports, modelNames.length),
      seconds,
      inputBytes: plan.inputBytes,
      outputBytes: plan.outputBytes,
    };
    await writeFile(join(temp, 'merge-report.json'), `${JSON.stringify(report, null, 1)}\n`);
    await writeFile(join(temp, 'merge-report.svg'), renderReportSvg(report));
    await moveIntoPlace(temp, plan.out);
    return {
      out: plan.out,
      tensors: plan.tensors.length,
      seconds,
      inputBytes: plan.inputBytes,
      outputBytes: plan.outputBytes,
      warnings: plan.warnings,
      report,
    };
  } catch (error) {
    await rm(temp, { recursive: true, force: true }).catch(() => undefined);
    throw explainFailure(error, plan.out);
  } finally {
    await closePlan(plan);
  }
}

async function writeWeights(
  plan: MergePlan,
  dir: string,
  options: MergeModelsOptions,
): Promise<TensorReport[]> {
  const writer = await createCheckpointWriter(
    dir,
    plan.tensors.map((tensor) => ({ name: tensor.name, dtype: tensor.dtype, shape: [...tensor.shape] })),
    {
      maxShardBytes: options.maxShardBytes ?? DEFAULT_MAX_SHARD_BYTES,
      metadata: { format: 'pt', merged_by: 'fusechat', merge_method: plan.method.name },
    },
  );
  const reports: TensorReport[] = [];
  const prefetch = options.prefetch ?? true;
  const total = plan.tensors.length;
  let pendingWrite: Promise<unknown> = Promise.resolve();
  try {
    let nextRead: Promise<Float32Array[]> | undefined =
      total > 0 ? readInputs(plan, plan.tensors[0]!) : undefined;
    for (let index = 0; index < total; index++) {
      const tensor = plan.tensors[index]!;
      const inputs = await nextRead!;
      nextRead = undefined;
      const readNext = () => {
        if (index + 1 < total) {
          nextRead = readInputs(plan, plan.tensors[index + 1]!);
          // Observed later; keep an early failure from becoming an unhandled rejection.
          nextRead.catch(() => undefined);
        }
      };
      if (prefetch) readNext();
      let output:
        | Float32Array
        | Uint8Array
        | Uint16Array
        | Int32Array
        | BigInt64Array
        | Int16Array
        | Int8Array
        | Float64Array;
      if (tensor.copy) {
        output = (await plan.reference.checkpoint.readTensor(tensor.name)).data;
        reports.push({
          name: tensor.name,
          shape: tensor.shape,
          dtype: tensor.dtype,
          layer: tensor.layer,
          copied: true,
        });
      } else {
        const { values, report } = mergeTensor(plan, tensor, inputs);
        output = values;
        reports.push(report);
      }
      await pendingWrite;
      pendingWrite = Promise.resolve(writer.write(tensor.name, output));
      pendingWrite.catch(() => undefined);
      if (!prefetch) readNext();
      options.onProgress?.({
        task: 'merge',
        completed: index + 1,
        total,
        unit: 'tensors',
        detail: tensor.name,
      });
    }
    await pendingWrite;
    await writer.close();
  } catch (error) {
    await Promise.resolve(writer.abort()).catch(() => undefined);
    throw error;
  }
  return reports;
}

async function readInputs(plan: MergePlan, tensor: PlannedTensor): Promise<Float32Array[]> {
  if (tensor.copy) return [];
  const sources = [...(plan.base ? [plan.base] : []), ...plan.models];
  return Promise.all(
    sources.map(async (model) => {
      const values = await model.checkpoint.readFloat32(tensor.name);
      // Row-major [vocab, hidden]: the first rows are the base vocabulary's.
      return values.length > tensor.numel ? values.subarray(0, tensor.numel) : values;
    }),
  );
}

function mergeTensor(
  plan: MergePlan,
  tensor: PlannedTensor,
  inputs: Float32Array[],
): { values: Float32Array; report: TensorReport } {
  const base = plan.base ? inputs[0] : undefined;
  const modelTensors = plan.base ? inputs.slice(1) : inputs;
  const changeMeanSquare = base
    ? modelTensors.map((values) => meanSquaredDifference(values, base))
    : undefined;
  const random = createRandom(plan.config.seed).fork(tensor.name);
  const result = plan.method.merge({
    tensorName: tensor.name,
    shape: tensor.shape,
    base,
    models: modelTensors.map((values, j) => ({
      model: plan.models[j]!.reference,
      tensor: values,
      parameters: tensor.perModel[j],
    })),
    parameters: tensor.parameters,
    random,
    changeMeanSquare,
  });
  const output = result instanceof Float32Array ? { tensor: result } : (result as MergeTensorResult);
  if (output.tensor.length !== tensor.numel) {
    throw new FuseChatError(
      'MERGE_METHOD_BAD_OUTPUT',
      `${plan.method.name} returned ${output.tensor.length} values for ${tensor.name}, expected ${tensor.numel}.`,
      { details: { tensorName: tensor.name } },
    );
  }
  for (let i = 0; i < output.tensor.length; i++) {
    if (!Number.isFinite(output.tensor[i]!)) {
      throw new NumericalError(
        `Merging ${tensor.name} with ${plan.method.name} produced a non-finite value at element ${i}; check the inputs for NaN/Inf and the parameters for extreme values.`,
        { code: 'MERGE_NON_FINITE', tensorName: tensor.name, details: { index: i } },
      );
    }
  }
  return {
    values: output.tensor,
    report: {
      name: tensor.name,
      shape: tensor.shape,
      dtype: tensor.dtype,
      layer: tensor.layer,
      ...(output.weights ? { weights: [...output.weights] } : {}),
      ...(changeMeanSquare ? { changeMeanSquare } : {}),
      ...(tensor.cropped.length > 0 ? { cropped: tensor.cropped } : {}),
    },
  };
}

async function copySideFiles(plan: MergePlan, dir: string): Promise<void> {
  const outputDtypes = new Set(plan.tensors.filter((tensor) => !tensor.copy).map((tensor) => tensor.dtype));
  for (const file of CONFIG_FILES) {
    const source = join(plan.reference.dir, file);
    if (!existsSync(source)) continue;
    if (file === 'config.json' && outputDtypes.size === 1) {
      const config = JSON.parse(await readFile(source, 'utf8')) as Record<string, unknown>;
      const torchDtype = TORCH_DTYPES[[...outputDtypes][0]!];
      if (torchDtype) config.torch_dtype = torchDtype;
      await writeFile(join(dir, file), `${JSON.stringify(config, null, 2)}\n`);
    } else {
      await copyFile(source, join(dir, file));
    }
  }
  for (const file of TOKENIZER_FILES) {
    const source = join(plan.tokenizerSource.dir, file);
    if (existsSync(source)) await copyFile(source, join(dir, file));
  }
}

async function moveIntoPlace(temp: string, out: string): Promise<void> {
  if (!existsSync(out)) {
    await rename(temp, out);
    return;
  }
  const previous = `${out}.replaced-${process.pid}`;
  await rename(out, previous);
  try {
    await rename(temp, out);
  } catch (error) {
    await rename(previous, out).catch(() => undefined);
    throw error;
  }
  await rm(previous, { recursive: true, force: true });
}

function errnoOf(error: unknown): string | undefined {
  for (let current = error, depth = 0; current !== undefined && current !== null && depth < 5; depth++) {
    const code = (current as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && code.startsWith('E') && !code.includes('_')) return code;
    const detail = (current as FuseChatError).details?.errno;
    if (typeof detail === 'string') return detail;
    current = (current as Error).cause;
  }
  return undefined;
}

function explainFailure(error: unknown, out: string): unknown {
  const errno = errnoOf(error);
  if (errno === 'ENOSPC' || errno === 'EDQUOT') {
    return new FuseChatError(
      'MERGE_DISK_FULL',
      `The disk filled up while writing the merged model for ${out}; the partial output was removed. Free space or choose another --out.`,
      { cause: error, details: { out, errno } },
    );
  }
  return error;
}
