import { configField } from '../../config/read-config-field.js';
import type { Architecture } from '../architecture.js';
import { createLlamaFamilyArchitecture, type LlamaFamilyVariant } from './llama-family.js';

/** `LlamaForCausalLM`: `attention_bias` puts biases on q, k, v and o; `mlp_bias` on the MLP. */
export const llamaVariant: LlamaFamilyVariant = {
  modelType: 'llama',
  className: 'LlamaForCausalLM',
  defaults: { maxPositionEmbeddings: 2048, ropeTheta: 10000, rmsNormEps: 1e-6 },
  readVariant(raw, numHiddenLayers) {
    const attentionBias = configField.boolean(raw, 'attention_bias', false);
    return {
      qkvBias: attentionBias,
      outputBias: attentionBias,
      mlpBias: configField.boolean(raw, 'mlp_bias', false),
      layerSlidingWindows: new Array<null>(numHiddenLayers).fill(null),
    };
  },
  writeVariant: (input) => ({
    attention_bias: input.attentionBias ?? false,
    mlp_bias: input.mlpBias ?? false,
  }),
};

/**
 * The Llama architecture (`model_type: "llama"`; also Llama 2/3, TinyLlama, SmolLM, …).
 *
 * @example
 * ```ts
 * const config = llamaArchitecture.createConfig({ modelType: 'llama', vocabSize: 256, hiddenSize: 64,
 *   intermediateSize: 128, numHiddenLayers: 2, numAttentionHeads: 4, numKeyValueHeads: 2 });
 * ```
 */
export const llamaArchitecture: Architecture = createLlamaFamilyArchitecture(llamaVariant);
