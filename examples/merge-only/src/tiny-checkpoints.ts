import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createRandom, type Random } from '@fusechat/core';
import { writeSafetensors } from '@fusechat/safetensors';

/** Sizes of a llama-style decoder, named as in Hugging Face's `config.json`. */
export interface TinyLlamaConfig {
  readonly vocab_size: number;
  readonly hidden_size: number;
  readonly intermediate_size: number;
  readonly num_hidden_layers: number;
  readonly num_attention_heads: number;
  readonly num_key_value_heads: number;
}

export const TINY_LLAMA: TinyLlamaConfig = {
  vocab_size: 64,
  hidden_size: 16,
  intermediate_size: 40,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
};

/** Tensor name → float32 values and shape (row-major, `[out, in]` for projections). */
export type Checkpoint = Map<string, { readonly shape: readonly number[]; readonly values: Float32Array }>;

/**
 * The tensor names and shapes `transformers`' `LlamaForCausalLM` uses for `config`.
 *
 * @example
 * ```ts
 * llamaTensorShapes(TINY_LLAMA).get('model.layers.0.self_attn.k_proj.weight'); // [8, 16]
 * ```
 */
export function llamaTensorShapes(config: TinyLlamaConfig): Map<string, number[]> {
  const hidden = config.hidden_size;
  const headDim = hidden / config.num_attention_heads;
  const kvSize = headDim * config.num_key_value_heads;
  const shapes = new Map<string, number[]>([['model.embed_tokens.weight', [config.vocab_size, hidden]]]);
  for (let layer = 0; layer < config.num_hidden_layers; layer++) {
    const prefix = `model.layers.${layer}`;
    shapes.set(`${prefix}.input_layernorm.weight`, [hidden]);
    shapes.set(`${prefix}.self_attn.q_proj.weight`, [hidden, hidden]);
    shapes.set(`${prefix}.self_attn.k_proj.weight`, [kvSize, hidden]);
    shapes.set(`${prefix}.self_attn.v_proj.weight`, [kvSize, hidden]);
    shapes.set(`${prefix}.self_attn.o_proj.weight`, [hidden, hidden]);
    shapes.set(`${prefix}.post_attention_layernorm.weight`, [hidden]);
    shapes.set(`${prefix}.mlp.gate_proj.weight`, [config.intermediate_size, hidden]);
    shapes.set(`${prefix}.mlp.up_proj.weight`, [config.intermediate_size, hidden]);
    shapes.set(`${prefix}.mlp.down_proj.weight`, [hidden, config.intermediate_size]);
  }
  shapes.set('model.norm.weight', [hidden]);
  shapes.set('lm_head.weight', [config.vocab_size, hidden]);
  return shapes;
}

/** A randomly initialised pivot: normal(0, 0.1) weights, RMSNorm weights of one. */
export function randomPivot(config: TinyLlamaConfig, random: Random): Checkpoint {
  const checkpoint: Checkpoint = new Map();
  for (const [name, shape] of llamaTensorShapes(config)) {
    const values = new Float32Array(shape.reduce((a, b) => a * b, 1));
    if (name.endsWith('norm.weight')) values.fill(1);
    else random.fillNormal(values, 0, 0.1);
    checkpoint.set(name, { shape, values });
  }
  return checkpoint;
}

/**
 * A "fine-tuned" copy of `pivot`: each tensor moved by normal noise whose standard deviation
 * `changeScale(name)` picks (0 leaves the tensor bit-identical to the pivot).
 */
export function fineTune(
  pivot: Checkpoint,
  changeScale: (tensorName: string) => number,
  random: Random,
): Checkpoint {
  const checkpoint: Checkpoint = new Map();
  for (const [name, { shape, values }] of pivot) {
    const scale = changeScale(name);
    const tuned = Float32Array.from(values);
    if (scale > 0) for (let i = 0; i < tuned.length; i++) tuned[i] = tuned[i]! + scale * random.normal();
    checkpoint.set(name, { shape, values: tuned });
  }
  return checkpoint;
}

/** Writes `config.json` and `model.safetensors` (F32) the way `save_pretrained` lays them out. */
export async function writeCheckpoint(
  dir: string,
  config: TinyLlamaConfig,
  checkpoint: Checkpoint,
): Promise<void> {
  await mkdir(dir, { recursive: true });
  const headDim = config.hidden_size / config.num_attention_heads;
  const hfConfig = {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    ...config,
    head_dim: headDim,
    hidden_act: 'silu',
    max_position_embeddings: 128,
    rms_norm_eps: 1e-6,
    rope_theta: 10000,
    tie_word_embeddings: false,
    bos_token_id: 1,
    eos_token_id: 2,
    torch_dtype: 'float32',
  };
  await writeFile(join(dir, 'config.json'), `${JSON.stringify(hfConfig, null, 2)}\n`);
  const tensors = Object.fromEntries(
    [...checkpoint].map(([name, { shape, values }]) => [
      name,
      { dtype: 'F32' as const, shape: [...shape], data: values },
    ]),
  );
  await writeSafetensors(join(dir, 'model.safetensors'), tensors, { metadata: { format: 'pt' } });
}

/** How much each target changed each kind of tensor (standard deviation of the added noise). */
export function targetChangeScales(tensorName: string): { targetA: number; targetB: number } {
  // Target A was "trained" mostly in attention, target B mostly in the MLPs; both touched the
  // embeddings a little, and neither touched the final norm (VaRM falls back to uniform weights).
  if (tensorName.includes('self_attn')) return { targetA: 0.02, targetB: 0.004 };
  if (tensorName.includes('mlp')) return { targetA: 0.003, targetB: 0.03 };
  if (tensorName.includes('layernorm')) return { targetA: 0, targetB: 0.01 };
  if (tensorName === 'model.norm.weight') return { targetA: 0, targetB: 0 };
  return { targetA: 0.005, targetB: 0.005 };
}

/** The pivot and two fine-tuned targets, in memory. */
export interface TinyFamily {
  readonly pivot: Checkpoint;
  readonly targetA: Checkpoint;
  readonly targetB: Checkpoint;
}

/**
 * Builds a pivot and two targets that changed different tensors by different amounts, and
 * writes them to `dir/pivot`, `dir/target-a`, `dir/target-b`.
 *
 * @example
 * ```ts
 * const family = await writeTinyFamily('/tmp/models', { seed: 1 });
 * family.targetA.get('lm_head.weight')?.values;
 * ```
 */
export async function writeTinyFamily(
  dir: string,
  options: { seed?: number; config?: TinyLlamaConfig } = {},
): Promise<TinyFamily> {
  const config = options.config ?? TINY_LLAMA;
  const random = createRandom(options.seed ?? 0);
  const pivot = randomPivot(config, random.fork('pivot'));
  const targetA = fineTune(pivot, (name) => targetChangeScales(name).targetA, random.fork('target-a'));
  const targetB = fineTune(pivot, (name) => targetChangeScales(name).targetB, random.fork('target-b'));
  await writeCheckpoint(join(dir, 'pivot'), config, pivot);
  await writeCheckpoint(join(dir, 'target-a'), config, targetA);
  await writeCheckpoint(join(dir, 'target-b'), config, targetB);
  return { pivot, targetA, targetB };
}
