/**
 * The architecture-independent description of a decoder-only causal LM, in camelCase. Parsed
 * from (and written back to) a Hugging Face `config.json` by the model's {@link Architecture}.
 */
export interface ModelConfig {
  /** Hugging Face `model_type` (`llama`, `mistral`, `qwen2`, …): selects the architecture. */
  readonly modelType: string;
  /** Hugging Face `architectures` (`["LlamaForCausalLM"]`). */
  readonly architectures: readonly string[];
  readonly vocabSize: number;
  readonly hiddenSize: number;
  readonly intermediateSize: number;
  readonly numHiddenLayers: number;
  readonly numAttentionHeads: number;
  /** Key/value heads (grouped-query attention); equals `numAttentionHeads` for plain multi-head. */
  readonly numKeyValueHeads: number;
  /** Per-head size; `hiddenSize / numAttentionHeads` unless the checkpoint says otherwise. */
  readonly headDim: number;
  readonly maxPositionEmbeddings: number;
  readonly ropeTheta: number;
  /** `rope_scaling` as in `config.json` (`null` = none). Supported types: `default`, `linear`, `llama3`. */
  readonly ropeScaling: RopeScaling | null;
  readonly rmsNormEps: number;
  /** `lm_head` shares `model.embed_tokens.weight` (and is absent from the checkpoint). */
  readonly tieWordEmbeddings: boolean;
  /** Bias on the q/k/v projections (Qwen2: always; Llama: `attention_bias`). */
  readonly qkvBias: boolean;
  /** Bias on the attention output projection (Llama `attention_bias`; never in Qwen2). */
  readonly outputBias: boolean;
  /** Bias on the MLP projections (Llama `mlp_bias`). */
  readonly mlpBias: boolean;
  /**
   * Sliding-window size per layer (`null` = full causal attention in that layer). Mistral uses
   * `sliding_window` on every layer; Qwen2 only when `use_sliding_window` from `max_window_layers` on.
   */
  readonly layerSlidingWindows: readonly (number | null)[];
  /** Standard deviation of the normal init of `createModel`. */
  readonly initializerRange: number;
  readonly bosTokenId: number | null;
  /** One id or several (Llama 3 lists several end-of-turn ids). */
  readonly eosTokenId: number | readonly number[] | null;
  readonly padTokenId: number | null;
  /** Stored dtype recorded in `config.json` (`float32`, `bfloat16`, `float16`). */
  readonly torchDtype: string;
  /**
   * The original `config.json` object, kept so that keys this package does not interpret are
   * written back unchanged by `saveModel`.
   */
  readonly raw: Readonly<Record<string, unknown>>;
}

/** The `rope_scaling` object of `config.json`. */
export interface RopeScaling {
  readonly rope_type?: string;
  readonly type?: string;
  readonly factor?: number;
  readonly low_freq_factor?: number;
  readonly high_freq_factor?: number;
  readonly original_max_position_embeddings?: number;
  readonly [key: string]: unknown;
}

/**
 * Fields accepted by `createModel` / an architecture's `configFromOptions`: the sizes are required,
 * everything else has the architecture's `transformers` default.
 */
export interface ModelConfigInput {
  readonly modelType: string;
  readonly vocabSize: number;
  readonly hiddenSize: number;
  readonly intermediateSize: number;
  readonly numHiddenLayers: number;
  readonly numAttentionHeads: number;
  readonly numKeyValueHeads?: number;
  readonly headDim?: number;
  readonly maxPositionEmbeddings?: number;
  readonly ropeTheta?: number;
  readonly ropeScaling?: RopeScaling | null;
  readonly rmsNormEps?: number;
  readonly tieWordEmbeddings?: boolean;
  /** Llama only (`attention_bias`: q, k, v and o). */
  readonly attentionBias?: boolean;
  /** Llama only (`mlp_bias`). */
  readonly mlpBias?: boolean;
  /** Mistral: window on every layer; Qwen2: sets `use_sliding_window`. */
  readonly slidingWindow?: number | null;
  readonly initializerRange?: number;
  readonly bosTokenId?: number | null;
  readonly eosTokenId?: number | readonly number[] | null;
  readonly padTokenId?: number | null;
  /** Extra `config.json` keys to keep. */
  readonly extra?: Readonly<Record<string, unknown>>;
}
