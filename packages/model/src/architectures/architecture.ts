import type * as tf from '@tensorflow/tfjs-core';
import type { ModelConfig, ModelConfigInput } from '../config/model-config.js';
import type { AttentionLayout } from '../ops/attention-layout.js';

/** One tensor a model of this architecture owns: its Hugging Face name, shape and initialiser. */
export interface WeightSpec {
  readonly name: string;
  /** `[out, in]` for projections, as stored in safetensors. */
  readonly shape: readonly number[];
  /** `normal`: N(0, initializerRange²); `embedding`: the same with the pad row zeroed; `ones`; `zeros`. */
  readonly init: 'normal' | 'embedding' | 'ones' | 'zeros';
}

/** Keys (after rotary) and values cached per layer for incremental decoding: `[batch, length, kvHeads, headDim]`. */
export interface KvCache {
  readonly length: number;
  readonly layers: readonly { readonly key: tf.Tensor4D; readonly value: tf.Tensor4D }[];
}

/** What an architecture's forward pass sees of the model: config, weights, projections. */
export interface ForwardContext {
  readonly config: ModelConfig;
  /** The tensor named `name` (HF name); throws when the model has none. */
  weight(name: string): tf.Tensor;
  hasWeight(name: string): boolean;
  /**
   * The linear projection `module` (HF prefix such as `model.layers.0.self_attn.q_proj`):
   * `x · weightᵀ + bias` (bias when the model has `module.bias`) plus any LoRA adapter on it.
   */
  project(x: tf.Tensor, module: string): tf.Tensor;
  /**
   * {@link project} prepared for many calls: the weight is transposed once (not on every call, as
   * `project` does), bias and LoRA adapter included. For chunked output projections (capture
   * applies `lm_head` to a few hundred positions at a time). The caller disposes it.
   */
  prepareProjection(module: string): PreparedProjection;
}

/**
 * A linear projection with its weight transposed once, applied to `[rows, in]` → `[rows, out]`.
 * `apply` results belong to the caller (or the enclosing `tf.tidy`); `dispose` frees the
 * transposed weight. Not differentiable with respect to the weights.
 */
export interface PreparedProjection {
  readonly inFeatures: number;
  readonly outFeatures: number;
  apply(x: tf.Tensor2D): tf.Tensor2D;
  dispose(): void;
}

/** Inputs of one forward pass. `inputIds` is int32 `[batch, time]`. */
export interface DecoderInput {
  readonly inputIds: tf.Tensor2D;
  readonly layout: AttentionLayout;
  /** Keys/values of earlier tokens (generation). */
  readonly cache?: KvCache | undefined;
  /** Return the keys/values of all tokens so far (past + new) as `cache`. */
  readonly returnCache?: boolean | undefined;
  /** Compute logits for the last position only (`[batch, 1, vocab]`): generation prefill. */
  readonly lastPositionOnly?: boolean | undefined;
}

/** Outputs of one forward pass; tensors belong to the caller. */
export interface DecoderOutput {
  readonly logits: tf.Tensor3D;
  readonly cache?: KvCache | undefined;
}

/**
 * A decoder-only architecture: how to read and write its `config.json`, which tensors it has,
 * and its forward pass. Register one under its Hugging Face `model_type` with
 * `createArchitectureRegistry({ ...defaultArchitectures, [mine.modelType]: mine })`.
 *
 * @example
 * ```ts
 * const registry = createArchitectureRegistry({ ...defaultArchitectures, mine: myArchitecture });
 * const model = await loadModel('./my-checkpoint', { architectures: registry });
 * ```
 */
export interface Architecture {
  /** Hugging Face `model_type`. */
  readonly modelType: string;
  /** Hugging Face class written to `architectures` (`LlamaForCausalLM`). */
  readonly className: string;
  /** Validates a parsed `config.json` object; throws `InvalidInputError` naming the bad key. */
  parseConfig(raw: Readonly<Record<string, unknown>>): ModelConfig;
  /** A config from sizes plus this architecture's `transformers` defaults (for `createModel`). */
  createConfig(input: ModelConfigInput): ModelConfig;
  /** The `config.json` object of a config (keys not interpreted here are kept from `config.raw`). */
  toHfConfig(config: ModelConfig): Record<string, unknown>;
  /** Every tensor the checkpoint must contain, in a stable order. */
  weightSpecs(config: ModelConfig): WeightSpec[];
  /** Checkpoint tensors that may be present and are skipped on load (e.g. rotary `inv_freq` buffers). */
  isIgnoredTensor(name: string, config: ModelConfig): boolean;
  /** Differentiable forward pass; called inside `tf.tidy`, synchronous. */
  forward(context: ForwardContext, input: DecoderInput): DecoderOutput;
  /**
   * Optional: `forward` in two steps, for callers that apply the output projection to chunks of
   * positions (memory stays bounded for large vocabularies). The final hidden states
   * `[batch, time, hiddenSize]` (after the last norm, before the output projection); called inside
   * `tf.tidy`. `input.returnCache` and `input.lastPositionOnly` are not used.
   */
  hiddenStates?(context: ForwardContext, input: DecoderInput): tf.Tensor3D;
  /**
   * Optional, with {@link hiddenStates}: the output projection (`lm_head`, or the tied embeddings)
   * prepared for many chunks, so `outputProjection(c).apply(hiddenRows)` equals the logits
   * `forward` computes for those rows. The caller disposes it.
   */
  outputProjection?(context: ForwardContext): PreparedProjection;
}
