import { copyFile, mkdir, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { InvalidInputError } from '@fusechat/core';
import { createCheckpointWriter } from '@fusechat/safetensors';
import type * as tf from '@tensorflow/tfjs-core';
import { mergedWeight } from '../lora/merge-lora.js';
import type { CausalLM } from '../model/causal-lm.js';

/** Options of {@link saveModel}. */
export interface SaveModelOptions {
  /** Stored dtype (default `F32`: an exact copy of the float32 weights). */
  readonly dtype?: 'F32' | 'BF16' | 'F16';
  /** Split into `model-0000i-of-0000n.safetensors` shards plus an index above this size. */
  readonly maxShardBytes?: number;
  /** Copy tokenizer files from here (default: the directory the model was loaded from). */
  readonly tokenizerDirectory?: string;
}

const TORCH_DTYPES = { F32: 'float32', BF16: 'bfloat16', F16: 'float16' } as const;

/** Files copied beside the weights so the saved directory is a complete Hugging Face model. */
export const TOKENIZER_FILES = [
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'tokenizer.model',
  'vocab.json',
  'merges.txt',
  'added_tokens.json',
  'chat_template.jinja',
  'generation_config.json',
] as const;

/**
 * Writes `model` as a Hugging Face checkpoint that `transformers` loads unchanged:
 * `config.json` (HF keys, `torch_dtype` of the stored dtype, unknown keys of the loaded config
 * kept), `model.safetensors` (or shards + `model.safetensors.index.json`) with HF tensor names,
 * and the tokenizer files of the source directory. LoRA adapters are merged into the written
 * weights (`W + (alpha/rank)·B·A`); the model itself is not changed.
 *
 * @example
 * ```ts
 * await saveModel(model, 'out/my-model', { dtype: 'BF16', maxShardBytes: 2 * 1024 ** 3 });
 * ```
 */
export async function saveModel(model: CausalLM, dir: string, options: SaveModelOptions = {}): Promise<void> {
  const dtype = options.dtype ?? 'F32';
  if (!(dtype in TORCH_DTYPES)) {
    throw new InvalidInputError(`saveModel dtype must be F32, BF16 or F16, got ${JSON.stringify(dtype)}.`, {
      code: 'MODEL_INVALID_OPTIONS',
      field: 'dtype',
    });
  }
  const { architecture } = model;
  const config = { ...model.config, torchDtype: TORCH_DTYPES[dtype] };
  const specs = architecture.weightSpecs(config);
  await mkdir(dir, { recursive: true });
  const writer = await createCheckpointWriter(
    dir,
    specs.map((spec) => ({ name: spec.name, dtype, shape: [...spec.shape] })),
    { maxShardBytes: options.maxShardBytes, metadata: { format: 'pt' } },
  );
  try {
    for (const spec of specs) {
      const weight = model.weights.get(spec.name);
      if (weight === undefined) {
        throw new InvalidInputError(`The model has no tensor "${spec.name}" to save.`, {
          code: 'MODEL_MISSING_TENSOR',
        });
      }
      const adapter = spec.name.endsWith('.weight')
        ? model.adapters.get(spec.name.slice(0, -'.weight'.length))
        : undefined;
      const tensor: tf.Tensor = adapter ? mergedWeight(weight, adapter) : weight;
      try {
        await writer.write(spec.name, (await tensor.data()) as Float32Array);
      } finally {
        if (adapter) tensor.dispose();
      }
    }
    await writer.close();
  } catch (error) {
    await writer.abort();
    throw error;
  }
  await writeFile(join(dir, 'config.json'), `${JSON.stringify(architecture.toHfConfig(config), null, 2)}\n`);
  const tokenizerDirectory = options.tokenizerDirectory ?? model.sourceDirectory;
  if (tokenizerDirectory !== undefined && resolve(tokenizerDirectory) !== resolve(dir)) {
    for (const file of TOKENIZER_FILES) {
      const source = join(tokenizerDirectory, file);
      if (
        await stat(source).then(
          (s) => s.isFile(),
          () => false,
        )
      )
        await copyFile(source, join(dir, file));
    }
  }
}
