// The HF Trainer's `get_decay_parameter_names`: besides `nn.LayerNorm` modules, any parameter
// whose lower-cased name matches one of these patterns is left out of weight decay.
const NO_DECAY_PATTERNS = [/bias/, /layernorm/, /rmsnorm/, /(?:^|\.)norm(?:$|\.)/, /_norm(?:$|\.)/];

/**
 * Whether AdamW's decoupled weight decay applies to the parameter `name` (an HF tensor name),
 * as the Hugging Face Trainer groups parameters: biases and norm weights
 * (`input_layernorm`, `post_attention_layernorm`, `model.norm`, Qwen3's `q_norm`/`k_norm`) are not
 * decayed; projections, embeddings, `lm_head` and LoRA `A`/`B` matrices are.
 *
 * @example
 * ```ts
 * isDecayParameter('model.layers.0.self_attn.q_proj.weight'); // true
 * isDecayParameter('model.layers.0.self_attn.q_proj.bias');   // false
 * isDecayParameter('model.norm.weight');                       // false
 * ```
 */
export function isDecayParameter(name: string): boolean {
  const lower = name.toLowerCase();
  return !NO_DECAY_PATTERNS.some((pattern) => pattern.test(lower));
}
