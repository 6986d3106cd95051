import * as tf from '@tensorflow/tfjs-core';
import type { CausalLM, LoraAdapter, MutableCausalLM } from '../model/causal-lm.js';

/**
 * `W + scale · B·A` for one adapter (a new tensor the caller owns).
 *
 * @example
 * ```ts
 * const merged = mergedWeight(model.weights.get(`${adapter.module}.weight`)!, adapter);
 * ```
 */
export function mergedWeight(weight: tf.Tensor, adapter: LoraAdapter): tf.Tensor2D {
  return tf.tidy(() => tf.add(weight, tf.mul(tf.matMul(adapter.b, adapter.a), adapter.scale)) as tf.Tensor2D);
}

/**
 * Folds every LoRA adapter into its base weight (`W ← W + (alpha/rank)·B·A`), disposes the
 * adapters and makes the base weights trainable again. The logits do not change.
 *
 * @example
 * ```ts
 * applyLora(model, { rank: 4, targetModules: ['q_proj', 'v_proj'] });
 * // …train…
 * mergeLora(model);
 * ```
 */
export function mergeLora(model: CausalLM): void {
  const target = model as MutableCausalLM;
  for (const adapter of target.adapters.values()) {
    const weight = target.weights.get(`${adapter.module}.weight`)!;
    const merged = mergedWeight(weight, adapter);
    weight.assign(merged);
    merged.dispose();
    adapter.a.dispose();
    adapter.b.dispose();
  }
  target.adapters.clear();
  for (const variable of target.weights.values()) variable.trainable = true;
}
