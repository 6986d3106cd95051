import { createRandom, InvalidInputError } from '@fusechat/core';
import * as tf from '@tensorflow/tfjs-core';
import type { CausalLM, LoraAdapter, MutableCausalLM } from '../model/causal-lm.js';

/** Options of {@link applyLora} (PEFT's `LoraConfig` names). */
export interface LoraOptions {
  /** Rank `r` of the update `B·A`. */
  readonly rank: number;
  /** Scaling numerator: the update is multiplied by `alpha / rank` (default `rank`, i.e. 1). */
  readonly alpha?: number;
  /** Projection names to adapt (`q_proj`, `k_proj`, `v_proj`, `o_proj`, `gate_proj`, `up_proj`, `down_proj`, `lm_head`). */
  readonly targetModules: readonly string[];
  /** Seed of the `A` init (default 0). */
  readonly seed?: number;
}

/**
 * Attaches LoRA adapters to the chosen projections and freezes the base weights: afterwards
 * `model.trainableVariables()` returns only the adapters' `A` (`[rank, in]`, PEFT's
 * Kaiming-uniform init, `U(±1/√in)`) and `B` (`[out, rank]`, zeros, so the model is unchanged
 * until trained). `saveModel` writes the merged weights; `mergeLora` folds them in place.
 *
 * @example
 * ```ts
 * const adapters = applyLora(model, { rank: 8, alpha: 16, targetModules: ['q_proj', 'v_proj'], seed: 1 });
 * optimizer.minimize(() => loss(model.forward(ids)), false, model.trainableVariables());
 * ```
 */
export function applyLora(model: CausalLM, options: LoraOptions): LoraAdapter[] {
  const target = model as MutableCausalLM;
  const { rank } = options;
  if (!Number.isInteger(rank) || rank <= 0) {
    throw new InvalidInputError(`LoRA rank must be a positive integer, got ${rank}.`, {
      code: 'LORA_INVALID_OPTIONS',
      field: 'rank',
    });
  }
  if (target.adapters.size > 0) {
    throw new InvalidInputError(
      'The model already has LoRA adapters; call mergeLora(model) before applying new ones.',
      {
        code: 'LORA_ALREADY_APPLIED',
      },
    );
  }
  const alpha = options.alpha ?? rank;
  const modules = [...target.weights.entries()]
    .filter(
      ([name, variable]) => name.endsWith('.weight') && variable.rank === 2 && !name.includes('embed_tokens'),
    )
    .map(([name]) => name.slice(0, -'.weight'.length));
  const wanted = new Set(options.targetModules);
  const chosen = modules.filter((module) => wanted.has(module.slice(module.lastIndexOf('.') + 1)));
  const found = new Set(chosen.map((module) => module.slice(module.lastIndexOf('.') + 1)));
  const missing = [...wanted].filter((name) => !found.has(name));
  if (missing.length > 0 || chosen.length === 0) {
    const known = [...new Set(modules.map((module) => module.slice(module.lastIndexOf('.') + 1)))];
    throw new InvalidInputError(
      `LoRA targetModules ${JSON.stringify(missing.length > 0 ? missing : options.targetModules)} match no projection of this model. Known: ${known.join(', ')}.`,
      { code: 'LORA_UNKNOWN_MODULE', field: 'targetModules', details: { known } },
    );
  }
  const random = createRandom(options.seed ?? 0);
  const created: LoraAdapter[] = [];
  for (const module of chosen) {
    const [out, inFeatures] = target.weights.get(`${module}.weight`)!.shape as [number, number];
    const bound = 1 / Math.sqrt(inFeatures);
    const stream = random.fork(module);
    const initialA = new Float32Array(rank * inFeatures);
    for (let i = 0; i < initialA.length; i++) initialA[i] = (2 * stream.float() - 1) * bound;
    const initialATensor = tf.tensor2d(initialA, [rank, inFeatures]);
    const initialBTensor = tf.zeros([out, rank]);
    const adapter: LoraAdapter = {
      module,
      a: tf.variable(initialATensor, true),
      b: tf.variable(initialBTensor, true),
      scale: alpha / rank,
    };
    // The variables hold their own reference to the data.
    tf.dispose([initialATensor, initialBTensor]);
    target.adapters.set(module, adapter);
    created.push(adapter);
  }
  for (const variable of target.weights.values()) variable.trainable = false;
  return created;
}
