import { configField } from '../../config/read-config-field.js';
import type { Architecture } from '../architecture.js';
import { createLlamaFamilyArchitecture } from '../llama/llama-family.js';

/**
 * The Qwen2 architecture (`model_type: "qwen2"`; Qwen2, Qwen2.5): biases on q, k and v (not o),
 * and a sliding window only when `use_sliding_window`, on layers from `max_window_layers` on.
 *
 * @example
 * ```ts
 * const config = qwen2Architecture.createConfig({ modelType: 'qwen2', vocabSize: 256, hiddenSize: 64,
 *   intermediateSize: 128, numHiddenLayers: 2, numAttentionHeads: 4, numKeyValueHeads: 2, tieWordEmbeddings: true });
 * ```
 */
export const qwen2Architecture: Architecture = createLlamaFamilyArchitecture({
  modelType: 'qwen2',
  className: 'Qwen2ForCausalLM',
  defaults: { maxPositionEmbeddings: 32768, ropeTheta: 10000, rmsNormEps: 1e-6 },
  readVariant(raw, numHiddenLayers) {
    const useSlidingWindow = configField.boolean(raw, 'use_sliding_window', false);
    const window = useSlidingWindow ? configField.slidingWindow(raw, 'sliding_window') : null;
    const firstWindowLayer = configField.number(raw, 'max_window_layers', 28);
    return {
      qkvBias: true,
      outputBias: false,
      mlpBias: false,
      layerSlidingWindows: Array.from({ length: numHiddenLayers }, (_, layer) =>
        layer >= firstWindowLayer ? window : null,
      ),
    };
  },
  writeVariant: (input) =>
    input.slidingWindow === undefined || input.slidingWindow === null
      ? { use_sliding_window: false, sliding_window: null }
      : { use_sliding_window: true, sliding_window: input.slidingWindow, max_window_layers: 0 },
});
