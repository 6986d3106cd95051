import { configField } from '../../config/read-config-field.js';
import type { Architecture } from '../architecture.js';
import { createLlamaFamilyArchitecture } from '../llama/llama-family.js';

/**
 * The Mistral architecture (`model_type: "mistral"`): Llama without biases, with an optional
 * `sliding_window` on every layer (a key is visible when `query − key < sliding_window`).
 *
 * @example
 * ```ts
 * const config = mistralArchitecture.createConfig({ modelType: 'mistral', vocabSize: 256, hiddenSize: 64,
 *   intermediateSize: 128, numHiddenLayers: 2, numAttentionHeads: 4, numKeyValueHeads: 1, slidingWindow: 8 });
 * ```
 */
export const mistralArchitecture: Architecture = createLlamaFamilyArchitecture({
  modelType: 'mistral',
  className: 'MistralForCausalLM',
  defaults: { maxPositionEmbeddings: 4096 * 32, ropeTheta: 10000, rmsNormEps: 1e-6 },
  readVariant(raw, numHiddenLayers) {
    // MistralConfig's default is 4096 when the key is absent; an explicit null means no window.
    const window = 'sliding_window' in raw ? configField.slidingWindow(raw, 'sliding_window') : 4096;
    return {
      qkvBias: false,
      outputBias: false,
      mlpBias: false,
      layerSlidingWindows: new Array<number | null>(numHiddenLayers).fill(window),
    };
  },
  writeVariant: (input) => ({ sliding_window: input.slidingWindow ?? null }),
});
