import { join } from 'node:path';
import { FileFormatError, type ProgressCallback, ShapeMismatchError } from '@fusechat/core';
import { readInputText } from '@fusechat/core/node';
import { type Checkpoint, openCheckpoint } from '@fusechat/safetensors';
import * as tf from '@tensorflow/tfjs-core';
import type { Architecture } from '../architectures/architecture.js';
import {
  type ArchitectureRegistry,
  defaultArchitectureRegistry,
} from '../architectures/architecture-registry.js';
import type { ModelConfig } from '../config/model-config.js';
import { type CausalLM, createCausalLM } from '../model/causal-lm.js';
import { assertFinite } from '../numerics/assert-finite.js';

/** Options of {@link loadModel}. */
export interface LoadModelOptions {
  /** Architectures to resolve `model_type` in (default: llama, mistral, qwen2). */
  readonly architectures?: ArchitectureRegistry;
  /**
   * Reject checkpoint tensors the architecture does not know (default `true`): they usually mean
   * that `config.json` and the weights disagree (e.g. more layers in the weights).
   */
  readonly strict?: boolean;
  readonly onProgress?: ProgressCallback;
}

const FLOAT_DTYPES = new Set(['F32', 'F16', 'BF16', 'F64']);

/** A real config.json is a few kB; anything above this is not one. */
const MAX_CONFIG_BYTES = 4 * 1024 * 1024;

/**
 * Reads and validates a Hugging Face `config.json`, resolving its architecture.
 *
 * @example
 * ```ts
 * const { config, architecture } = await readModelConfig('models/Qwen2-0.5B');
 * ```
 */
export async function readModelConfig(
  dir: string,
  registry: ArchitectureRegistry = defaultArchitectureRegistry,
): Promise<{ config: ModelConfig; architecture: Architecture }> {
  const path = join(dir, 'config.json');
  const text = await readInputText(path, {
    what: 'model config a model directory needs',
    maxBytes: MAX_CONFIG_BYTES,
    notFoundCode: 'MODEL_CONFIG_NOT_FOUND',
  });
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new FileFormatError(
      'MODEL_CONFIG_INVALID_JSON',
      `${path} is not valid JSON: ${(error as Error).message}`,
      {
        path,
        cause: error,
      },
    );
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new FileFormatError('MODEL_CONFIG_INVALID_JSON', `${path} must hold a JSON object.`, { path });
  }
  const modelType = (raw as Record<string, unknown>).model_type;
  const architecture = registry.get(typeof modelType === 'string' ? modelType : String(modelType));
  return { config: architecture.parseConfig(raw as Record<string, unknown>), architecture };
}

/**
 * Loads a Hugging Face checkpoint directory (`config.json` + `model.safetensors` or shards with
 * `model.safetensors.index.json`; F32/F16/BF16 stored, float32 in memory). Every tensor header is
 * checked against the architecture's expected names and shapes before any weight is read.
 * The returned model owns tfjs variables: call `model.dispose()` when done.
 *
 * @throws UnknownNameError (`MODEL_UNKNOWN_ARCHITECTURE`) for an unknown `model_type`;
 *   FileFormatError (`MODEL_CONFIG_NOT_FOUND`, `MODEL_CONFIG_INVALID_JSON`) for a missing or
 *   unreadable `config.json`; InvalidInputError (`MODEL_INVALID_CONFIG`) for a bad config; FileFormatError
 *   (`MODEL_MISSING_TENSOR`, `MODEL_UNEXPECTED_TENSOR`, `MODEL_UNSUPPORTED_DTYPE`, `SAFETENSORS_*`);
 *   ShapeMismatchError (`MODEL_TENSOR_SHAPE_MISMATCH`) naming the tensor and both shapes.
 * @example
 * ```ts
 * const model = await loadModel('models/Qwen2-0.5B-Instruct');
 * const logits = await model.logits([[151644, 872, 198]], undefined, { output: 'array' });
 * model.dispose();
 * ```
 */
export async function loadModel(dir: string, options: LoadModelOptions = {}): Promise<CausalLM> {
  const { config, architecture } = await readModelConfig(dir, options.architectures);
  const checkpoint = await openCheckpoint(dir);
  const tensors = new Map<string, tf.Tensor>();
  try {
    const specs = architecture.weightSpecs(config);
    checkHeaders(checkpoint, specs, config, architecture, options.strict ?? true);
    let completed = 0;
    for (const spec of specs) {
      const values = await checkpoint.readFloat32(spec.name);
      // NaN or ±Inf in a weight turns every logit it touches into NaN: refuse it by name.
      assertFinite(
        values,
        'MODEL_NON_FINITE_WEIGHTS',
        `Tensor "${spec.name}" in ${checkpoint.dir} (a checkpoint with non-finite weights cannot be used: saved after a diverged step, or converted without clamping?)`,
        { tensorName: spec.name, path: checkpoint.dir },
      );
      tensors.set(spec.name, tf.tensor(values, [...spec.shape], 'float32'));
      options.onProgress?.({
        task: 'load',
        completed: ++completed,
        total: specs.length,
        unit: 'tensors',
        detail: spec.name,
      });
    }
    return createCausalLM({ config, architecture, weights: tensors, sourceDirectory: dir });
  } catch (error) {
    tf.dispose([...tensors.values()]);
    throw error;
  } finally {
    await checkpoint.close();
  }
}

function checkHeaders(
  checkpoint: Checkpoint,
  specs: readonly { name: string; shape: readonly number[] }[],
  config: ModelConfig,
  architecture: Architecture,
  strict: boolean,
): void {
  const where = `in ${checkpoint.dir}`;
  for (const spec of specs) {
    const info = checkpoint.tensors.get(spec.name);
    if (info === undefined) {
      throw new FileFormatError(
        'MODEL_MISSING_TENSOR',
        `Tensor "${spec.name}" (expected shape [${spec.shape.join(', ')}]) is missing ${where}; config.json and the weights disagree or the checkpoint is incomplete.`,
        { path: checkpoint.dir, tensorName: spec.name, details: { expectedShape: spec.shape } },
      );
    }
    const same =
      info.shape.length === spec.shape.length && info.shape.every((size, i) => size === spec.shape[i]);
    if (!same) {
      throw new ShapeMismatchError(
        `Tensor "${spec.name}" ${where} has shape [${info.shape.join(', ')}], but config.json implies [${spec.shape.join(', ')}].`,
        {
          code: 'MODEL_TENSOR_SHAPE_MISMATCH',
          tensorName: spec.name,
          expectedShape: spec.shape,
          actualShape: info.shape,
          details: { path: checkpoint.dir, file: info.file },
        },
      );
    }
    if (!FLOAT_DTYPES.has(info.dtype)) {
      throw new FileFormatError(
        'MODEL_UNSUPPORTED_DTYPE',
        `Tensor "${spec.name}" ${where} is stored as ${info.dtype}; model weights must be F32, F16, BF16 or F64 (quantized checkpoints are not supported).`,
        { path: checkpoint.dir, tensorName: spec.name, details: { dtype: info.dtype } },
      );
    }
  }
  if (!strict) return;
  const expected = new Set(specs.map((spec) => spec.name));
  const unexpected = [...checkpoint.tensors.keys()].filter(
    (name) => !expected.has(name) && !architecture.isIgnoredTensor(name, config),
  );
  if (unexpected.length > 0) {
    throw new FileFormatError(
      'MODEL_UNEXPECTED_TENSOR',
      `${unexpected.length} tensor(s) ${where} are not part of a ${config.modelType} model with this config.json ` +
        `(e.g. ${unexpected
          .slice(0, 3)
          .map((name) => `"${name}"`)
          .join(', ')}); config.json and the weights disagree. ` +
        'Pass { strict: false } to ignore them.',
      { path: checkpoint.dir, tensorName: unexpected[0], details: { unexpected } },
    );
  }
}
