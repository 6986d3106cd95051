import { createRandom } from '@fusechat/core';
import * as tf from '@tensorflow/tfjs-core';
import {
  type ArchitectureRegistry,
  defaultArchitectureRegistry,
} from '../architectures/architecture-registry.js';
import type { ModelConfig, ModelConfigInput } from '../config/model-config.js';
import { type CausalLM, createCausalLM } from './causal-lm.js';

/** Options of {@link createModel}. */
export interface CreateModelOptions {
  /** Seed of the weight init (default 0); each tensor draws from its own stream, forked by name. */
  readonly seed?: number;
  /** Architectures to resolve `modelType` in (default: llama, mistral, qwen2). */
  readonly architectures?: ArchitectureRegistry;
}

/**
 * A randomly initialised model, as `transformers` initialises one: projections and embeddings
 * from N(0, initializerRange²) (the pad token's embedding row zero), biases 0, norms 1.
 * Accepts a full {@link ModelConfig} (e.g. another model's) or sizes plus defaults.
 *
 * @example
 * ```ts
 * const model = createModel({ modelType: 'llama', vocabSize: 128, hiddenSize: 32, intermediateSize: 64,
 *   numHiddenLayers: 2, numAttentionHeads: 4, numKeyValueHeads: 2 }, { seed: 1 });
 * const logits = await model.logits([[1, 2, 3]]);
 * logits.dispose();
 * model.dispose();
 * ```
 */
export function createModel(
  config: ModelConfigInput | ModelConfig,
  options: CreateModelOptions = {},
): CausalLM {
  const registry = options.architectures ?? defaultArchitectureRegistry;
  const architecture = registry.get(config.modelType);
  // A full config goes through its config.json form, so edited fields and raw keys both count.
  const resolved =
    'raw' in config
      ? architecture.parseConfig(architecture.toHfConfig(config))
      : architecture.createConfig(config);
  const random = createRandom(options.seed ?? 0);
  const weights = new Map<string, tf.Tensor>();
  for (const spec of architecture.weightSpecs(resolved)) {
    const size = spec.shape.reduce((a, b) => a * b, 1);
    const values = new Float32Array(size);
    if (spec.init === 'ones') values.fill(1);
    else if (spec.init === 'normal' || spec.init === 'embedding') {
      random.fork(spec.name).fillNormal(values, 0, resolved.initializerRange);
      const pad = resolved.padTokenId;
      if (spec.init === 'embedding' && pad !== null && pad < spec.shape[0]!) {
        const width = spec.shape[1]!;
        values.fill(0, pad * width, (pad + 1) * width);
      }
    }
    weights.set(spec.name, tf.tensor(values, [...spec.shape], 'float32'));
  }
  return createCausalLM({ config: resolved, architecture, weights, sourceDirectory: undefined });
}
