export type {
  Architecture,
  DecoderInput,
  DecoderOutput,
  ForwardContext,
  KvCache,
  PreparedProjection,
  WeightSpec,
} from './architectures/architecture.js';
export {
  type ArchitectureRegistry,
  createArchitectureRegistry,
  defaultArchitectureRegistry,
  defaultArchitectures,
} from './architectures/architecture-registry.js';
export { llamaArchitecture, llamaVariant } from './architectures/llama/llama.js';
export {
  createLlamaFamilyArchitecture,
  type LlamaFamilyVariant,
} from './architectures/llama/llama-family.js';
export {
  llamaFamilyForward,
  llamaFamilyHiddenStates,
  llamaFamilyOutputProjection,
} from './architectures/llama/llama-forward.js';
export { mistralArchitecture } from './architectures/mistral/mistral.js';
export { qwen2Architecture } from './architectures/qwen2/qwen2.js';
export type { ModelConfig, ModelConfigInput, RopeScaling } from './config/model-config.js';
export {
  type EvaluatePerplexityOptions,
  evaluatePerplexity,
  type PerplexityBatch,
  type PerplexityResult,
} from './evaluation/evaluate-perplexity.js';
export { type GenerateOptions, type GenerateResult, generate } from './generation/generate.js';
export { generateBatch } from './generation/generate-batch.js';
export {
  applyRepetitionControls,
  bannedNgramTokens,
  type RepetitionOptions,
} from './generation/logits-processors.js';
export { type SamplingOptions, sampleToken } from './generation/sample-token.js';
export { readGenerationConfigEos } from './io/generation-config.js';
export { type LoadModelOptions, loadModel, readModelConfig } from './io/load-model.js';
export { type SaveModelOptions, saveModel, TOKENIZER_FILES } from './io/save-model.js';
export { applyLora, type LoraOptions } from './lora/apply-lora.js';
export { loadLoraAdapter } from './lora/load-lora-adapter.js';
export { mergedWeight, mergeLora } from './lora/merge-lora.js';
export { peftTensorName, saveLoraAdapter } from './lora/save-lora-adapter.js';
export type {
  CausalLM,
  ForwardOptions,
  LogitsOptions,
  LoraAdapter,
} from './model/causal-lm.js';
export { type CreateModelOptions, createModel } from './model/create-model.js';
export {
  ACTIVATION_BUDGET_ENV,
  activationBudgetBytes,
  checkActivationBudget,
  type ForwardShape,
} from './numerics/activation-budget.js';
export { assertFinite } from './numerics/assert-finite.js';
export {
  type AttentionLayout,
  attentionBias,
  attentionBiasValues,
  createAttentionLayout,
  MASKED_SCORE,
} from './ops/attention-layout.js';
export { causalAttention } from './ops/causal-attention.js';
export { embeddingLookup } from './ops/embedding-lookup.js';
export { groupedQueryAttention } from './ops/grouped-query-attention.js';
export { linear } from './ops/linear.js';
export { batchMatMul } from './ops/mat-mul.js';
export { rmsNorm } from './ops/rms-norm.js';
export { applyRotary, ropeScalingType, rotaryInverseFrequencies, rotaryTables } from './ops/rotary.js';
export { swiglu } from './ops/swiglu.js';
