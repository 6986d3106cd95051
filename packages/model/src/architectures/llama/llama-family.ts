import { InvalidInputError } from '@fusechat/core';
import type { ModelConfig, ModelConfigInput, RopeScaling } from '../../config/model-config.js';
import { configField } from '../../config/read-config-field.js';
import { ropeScalingType } from '../../ops/rotary.js';
import type { Architecture, WeightSpec } from '../architecture.js';
import { llamaFamilyForward, llamaFamilyHiddenStates, llamaFamilyOutputProjection } from './llama-forward.js';

/**
 * What distinguishes one member of the Llama family (Llama, Mistral, Qwen2, …): its names, its
 * `transformers` defaults, and how its config says which projections have biases and which
 * layers use a sliding window.
 */
export interface LlamaFamilyVariant {
  readonly modelType: string;
  readonly className: string;
  /** `transformers` defaults for keys absent from `config.json`. */
  readonly defaults: {
    readonly maxPositionEmbeddings: number;
    readonly ropeTheta: number;
    readonly rmsNormEps: number;
  };
  /** Bias flags and per-layer sliding windows from the raw config. */
  readVariant(
    raw: Readonly<Record<string, unknown>>,
    numHiddenLayers: number,
  ): Pick<ModelConfig, 'qkvBias' | 'outputBias' | 'mlpBias' | 'layerSlidingWindows'>;
  /** The variant-specific `config.json` keys of a `createModel` input. */
  writeVariant(input: ModelConfigInput): Record<string, unknown>;
}

/**
 * Builds an {@link Architecture} of the Llama family (RMSNorm, rotary embeddings, grouped-query
 * attention, SwiGLU MLP) from a {@link LlamaFamilyVariant}: one forward pass, configured.
 *
 * @example
 * ```ts
 * const myLlama = createLlamaFamilyArchitecture({ ...llamaVariant, modelType: 'my_llama', className: 'MyLlamaForCausalLM' });
 * ```
 */
export function createLlamaFamilyArchitecture(variant: LlamaFamilyVariant): Architecture {
  const parseConfig = (raw: Readonly<Record<string, unknown>>): ModelConfig => {
    if (raw.model_type !== undefined && raw.model_type !== variant.modelType) {
      throw new InvalidInputError(
        `config.json: model_type "${String(raw.model_type)}" given to the ${variant.modelType} architecture.`,
        {
          code: 'MODEL_INVALID_CONFIG',
          field: 'model_type',
        },
      );
    }
    const hiddenSize = configField.positiveInteger(raw, 'hidden_size');
    const numAttentionHeads = configField.positiveInteger(raw, 'num_attention_heads');
    const numKeyValueHeads = configField.positiveInteger(raw, 'num_key_value_heads', numAttentionHeads);
    const numHiddenLayers = configField.positiveInteger(raw, 'num_hidden_layers');
    const vocabSize = configField.positiveInteger(raw, 'vocab_size');
    if (numAttentionHeads % numKeyValueHeads !== 0) {
      throw new InvalidInputError(
        `config.json: num_attention_heads (${numAttentionHeads}) must be a multiple of num_key_value_heads (${numKeyValueHeads}).`,
        { code: 'MODEL_INVALID_CONFIG', field: 'num_key_value_heads' },
      );
    }
    if (numKeyValueHeads > numAttentionHeads) {
      throw new InvalidInputError(
        `config.json: num_key_value_heads (${numKeyValueHeads}) cannot exceed num_attention_heads (${numAttentionHeads}).`,
        { code: 'MODEL_INVALID_CONFIG', field: 'num_key_value_heads' },
      );
    }
    if (raw.head_dim === undefined && hiddenSize % numAttentionHeads !== 0) {
      throw new InvalidInputError(
        `config.json: hidden_size (${hiddenSize}) must be a multiple of num_attention_heads (${numAttentionHeads}) when head_dim is not given.`,
        { code: 'MODEL_INVALID_CONFIG', field: 'num_attention_heads' },
      );
    }
    const defaultHeadDim = Math.floor(hiddenSize / numAttentionHeads);
    const headDim = configField.positiveInteger(raw, 'head_dim', defaultHeadDim);
    if (headDim % 2 !== 0) {
      throw new InvalidInputError(`config.json: head_dim (${headDim}) must be even for rotary embeddings.`, {
        code: 'MODEL_INVALID_CONFIG',
        field: 'head_dim',
      });
    }
    const activation = raw.hidden_act ?? 'silu';
    if (activation !== 'silu') {
      throw new InvalidInputError(
        `config.json: hidden_act "${String(activation)}" is not supported (only "silu").`,
        {
          code: 'MODEL_INVALID_CONFIG',
          field: 'hidden_act',
        },
      );
    }
    // transformers ≥ 4.56 may keep rope settings in `rope_parameters`.
    const ropeParameters = (raw.rope_parameters ?? null) as Record<string, unknown> | null;
    const ropeTheta = configField.positiveNumber(
      { rope_theta: raw.rope_theta ?? ropeParameters?.rope_theta },
      'rope_theta',
      variant.defaults.ropeTheta,
    );
    const ropeScaling = (raw.rope_scaling ?? ropeParameters ?? null) as RopeScaling | null;
    if (ropeScaling !== null && (typeof ropeScaling !== 'object' || Array.isArray(ropeScaling))) {
      throw new InvalidInputError(`config.json: "rope_scaling" must be an object or null.`, {
        code: 'MODEL_INVALID_CONFIG',
        field: 'rope_scaling',
      });
    }
    ropeScalingType(ropeScaling);
    const architectures = Array.isArray(raw.architectures)
      ? raw.architectures.map(String)
      : [variant.className];
    return {
      modelType: variant.modelType,
      architectures,
      vocabSize,
      hiddenSize,
      intermediateSize: configField.positiveInteger(raw, 'intermediate_size'),
      numHiddenLayers,
      numAttentionHeads,
      numKeyValueHeads,
      headDim,
      maxPositionEmbeddings: configField.positiveInteger(
        raw,
        'max_position_embeddings',
        variant.defaults.maxPositionEmbeddings,
      ),
      ropeTheta,
      ropeScaling,
      rmsNormEps: configField.positiveNumber(raw, 'rms_norm_eps', variant.defaults.rmsNormEps),
      tieWordEmbeddings: configField.boolean(raw, 'tie_word_embeddings', false),
      ...variant.readVariant(raw, numHiddenLayers),
      initializerRange: configField.positiveNumber(raw, 'initializer_range', 0.02),
      bosTokenId: configField.tokenId(raw, 'bos_token_id', vocabSize),
      eosTokenId: configField.tokenIds(raw, 'eos_token_id', vocabSize),
      padTokenId: configField.tokenId(raw, 'pad_token_id', vocabSize),
      torchDtype: String(raw.torch_dtype ?? raw.dtype ?? 'float32'),
      raw: Object.freeze({ ...raw }),
    };
  };

  return {
    modelType: variant.modelType,
    className: variant.className,
    parseConfig,
    createConfig(input) {
      const raw: Record<string, unknown> = {
        ...input.extra,
        architectures: [variant.className],
        model_type: variant.modelType,
        vocab_size: input.vocabSize,
        hidden_size: input.hiddenSize,
        intermediate_size: input.intermediateSize,
        num_hidden_layers: input.numHiddenLayers,
        num_attention_heads: input.numAttentionHeads,
        num_key_value_heads: input.numKeyValueHeads ?? input.numAttentionHeads,
        hidden_act: 'silu',
        max_position_embeddings: input.maxPositionEmbeddings ?? variant.defaults.maxPositionEmbeddings,
        initializer_range: input.initializerRange ?? 0.02,
        rms_norm_eps: input.rmsNormEps ?? variant.defaults.rmsNormEps,
        rope_theta: input.ropeTheta ?? variant.defaults.ropeTheta,
        rope_scaling: input.ropeScaling ?? null,
        tie_word_embeddings: input.tieWordEmbeddings ?? false,
        bos_token_id: input.bosTokenId ?? null,
        eos_token_id: input.eosTokenId ?? null,
        pad_token_id: input.padTokenId ?? null,
        torch_dtype: 'float32',
        ...variant.writeVariant(input),
      };
      if (input.headDim !== undefined) raw.head_dim = input.headDim;
      return parseConfig(raw);
    },
    toHfConfig(config) {
      const hf: Record<string, unknown> = {
        ...config.raw,
        architectures: [...config.architectures],
        model_type: config.modelType,
        vocab_size: config.vocabSize,
        hidden_size: config.hiddenSize,
        intermediate_size: config.intermediateSize,
        num_hidden_layers: config.numHiddenLayers,
        num_attention_heads: config.numAttentionHeads,
        num_key_value_heads: config.numKeyValueHeads,
        max_position_embeddings: config.maxPositionEmbeddings,
        rms_norm_eps: config.rmsNormEps,
        tie_word_embeddings: config.tieWordEmbeddings,
        initializer_range: config.initializerRange,
        bos_token_id: config.bosTokenId,
        eos_token_id: config.eosTokenId,
        torch_dtype: config.torchDtype,
      };
      if (config.raw.rope_parameters === undefined) {
        hf.rope_theta = config.ropeTheta;
        hf.rope_scaling = config.ropeScaling;
      }
      if (config.padTokenId !== null || 'pad_token_id' in config.raw) hf.pad_token_id = config.padTokenId;
      if (
        'head_dim' in config.raw ||
        config.headDim !== Math.floor(config.hiddenSize / config.numAttentionHeads)
      ) {
        hf.head_dim = config.headDim;
      }
      if (!('hidden_act' in hf)) hf.hidden_act = 'silu';
      return hf;
    },
    weightSpecs(config) {
      const { hiddenSize, intermediateSize, vocabSize, numAttentionHeads, numKeyValueHeads, headDim } =
        config;
      const specs: WeightSpec[] = [
        { name: 'model.embed_tokens.weight', shape: [vocabSize, hiddenSize], init: 'embedding' },
      ];
      const projection = (name: string, out: number, inFeatures: number, bias: boolean) => {
        specs.push({ name: `${name}.weight`, shape: [out, inFeatures], init: 'normal' });
        if (bias) specs.push({ name: `${name}.bias`, shape: [out], init: 'zeros' });
      };
      for (let layer = 0; layer < config.numHiddenLayers; layer++) {
        const prefix = `model.layers.${layer}`;
        projection(`${prefix}.self_attn.q_proj`, numAttentionHeads * headDim, hiddenSize, config.qkvBias);
        projection(`${prefix}.self_attn.k_proj`, numKeyValueHeads * headDim, hiddenSize, config.qkvBias);
        projection(`${prefix}.self_attn.v_proj`, numKeyValueHeads * headDim, hiddenSize, config.qkvBias);
        projection(`${prefix}.self_attn.o_proj`, hiddenSize, numAttentionHeads * headDim, config.outputBias);
        projection(`${prefix}.mlp.gate_proj`, intermediateSize, hiddenSize, config.mlpBias);
        projection(`${prefix}.mlp.up_proj`, intermediateSize, hiddenSize, config.mlpBias);
        projection(`${prefix}.mlp.down_proj`, hiddenSize, intermediateSize, config.mlpBias);
        specs.push({ name: `${prefix}.input_layernorm.weight`, shape: [hiddenSize], init: 'ones' });
        specs.push({ name: `${prefix}.post_attention_layernorm.weight`, shape: [hiddenSize], init: 'ones' });
      }
      specs.push({ name: 'model.norm.weight', shape: [hiddenSize], init: 'ones' });
      if (!config.tieWordEmbeddings)
        specs.push({ name: 'lm_head.weight', shape: [vocabSize, hiddenSize], init: 'normal' });
      return specs;
    },
    isIgnoredTensor(name, config) {
      return name.endsWith('.rotary_emb.inv_freq') || (config.tieWordEmbeddings && name === 'lm_head.weight');
    },
    forward: llamaFamilyForward,
    hiddenStates: llamaFamilyHiddenStates,
    outputProjection: llamaFamilyOutputProjection,
  };
}
