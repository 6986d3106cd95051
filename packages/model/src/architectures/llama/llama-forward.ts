import * as tf from '@tensorflow/tfjs-core';
import { causalAttention } from '../../ops/causal-attention.js';
import { embeddingLookup } from '../../ops/embedding-lookup.js';
import { linear } from '../../ops/linear.js';
import { rmsNorm } from '../../ops/rms-norm.js';
import { applyRotary, rotaryInverseFrequencies, rotaryTables } from '../../ops/rotary.js';
import { swiglu } from '../../ops/swiglu.js';
import type {
  DecoderInput,
  DecoderOutput,
  ForwardContext,
  KvCache,
  PreparedProjection,
} from '../architecture.js';

/**
 * The Llama-family forward pass (`LlamaForCausalLM` numerics): embeddings → per layer
 * `x + o(attn(rope(q), rope(k), v))`, `x + down(silu(gate(h))·up(h))` with pre-RMSNorms →
 * final RMSNorm → `lm_head` (or the tied embeddings). Must run inside `tf.tidy`.
 *
 * @example
 * ```ts
 * const { logits } = tf.tidy(() => llamaFamilyForward(context, { inputIds, layout }));
 * ```
 */
export function llamaFamilyForward(context: ForwardContext, input: DecoderInput): DecoderOutput {
  const { config } = context;
  const [batch, time] = input.inputIds.shape;
  const decoded = decode(context, input);
  let hidden = decoded.hidden;
  let rows = time;
  if (input.lastPositionOnly) {
    hidden = tf.reshape(
      tf.slice(tf.reshape(hidden, [batch, time, config.hiddenSize]), [0, time - 1, 0], [batch, 1, -1]),
      [batch, config.hiddenSize],
    );
    rows = 1;
  }
  const logits = config.tieWordEmbeddings
    ? linear(hidden, context.weight('model.embed_tokens.weight'))
    : context.project(hidden, 'lm_head');
  const result: { logits: tf.Tensor3D; cache?: KvCache } = {
    logits: tf.reshape(logits, [batch, rows, config.vocabSize]) as tf.Tensor3D,
  };
  if (decoded.cache !== undefined) result.cache = decoded.cache;
  return result;
}

/**
 * The Llama-family final hidden states `[batch, time, hiddenSize]` (after `model.norm`, before
 * `lm_head`): {@link llamaFamilyForward} without its output projection. Must run inside `tf.tidy`.
 *
 * @example
 * ```ts
 * const hidden = tf.tidy(() => llamaFamilyHiddenStates(context, { inputIds, layout }));
 * ```
 */
export function llamaFamilyHiddenStates(context: ForwardContext, input: DecoderInput): tf.Tensor3D {
  const [batch, time] = input.inputIds.shape;
  const { hidden } = decode(context, { ...input, returnCache: false });
  return tf.reshape(hidden, [batch, time, context.config.hiddenSize]) as tf.Tensor3D;
}

/**
 * The Llama-family output projection (`lm_head`, or the tied `model.embed_tokens`) prepared for
 * many chunks of hidden-state rows; the caller disposes it.
 *
 * @example
 * ```ts
 * const head = llamaFamilyOutputProjection(context);
 * const logits = tf.tidy(() => head.apply(hiddenRows)); // [rows, vocab]
 * head.dispose();
 * ```
 */
export function llamaFamilyOutputProjection(context: ForwardContext): PreparedProjection {
  return context.prepareProjection(context.config.tieWordEmbeddings ? 'model.embed_tokens' : 'lm_head');
}

/** Embeddings → decoder layers → final norm: hidden states `[batch · time, hiddenSize]`. */
function decode(context: ForwardContext, input: DecoderInput): { hidden: tf.Tensor; cache?: KvCache } {
  const { config } = context;
  const { inputIds, layout, cache } = input;
  const [batch, time] = inputIds.shape;
  const { numAttentionHeads: heads, numKeyValueHeads: kvHeads, headDim, rmsNormEps: eps } = config;
  let hidden = tf.reshape(embeddingLookup(context.weight('model.embed_tokens.weight'), inputIds), [
    batch * time,
    config.hiddenSize,
  ]);
  const { cos, sin } = rotaryTables(rotaryInverseFrequencies(config), layout.positionIds, batch, time);
  const toHeads = (x: tf.Tensor, count: number) =>
    tf.reshape(x, [batch, time, count, headDim]) as tf.Tensor4D;

  const newLayers: { key: tf.Tensor4D; value: tf.Tensor4D }[] = [];
  for (let layer = 0; layer < config.numHiddenLayers; layer++) {
    const prefix = `model.layers.${layer}`;
    const normed = rmsNorm(hidden, context.weight(`${prefix}.input_layernorm.weight`), eps);
    const queries = applyRotary(
      toHeads(context.project(normed, `${prefix}.self_attn.q_proj`), heads),
      cos,
      sin,
    );
    let keys = applyRotary(toHeads(context.project(normed, `${prefix}.self_attn.k_proj`), kvHeads), cos, sin);
    let values = toHeads(context.project(normed, `${prefix}.self_attn.v_proj`), kvHeads);
    const past = cache?.layers[layer];
    if (past !== undefined) {
      keys = tf.concat([past.key, keys], 1);
      values = tf.concat([past.value, values], 1);
    }
    if (input.returnCache) newLayers.push({ key: keys, value: values });
    const attended = causalAttention(
      queries,
      keys,
      values,
      layout,
      config.layerSlidingWindows[layer] ?? null,
    );
    const merged = tf.reshape(attended, [batch * time, heads * headDim]);
    hidden = tf.add(hidden, context.project(merged, `${prefix}.self_attn.o_proj`));

    const normedMlp = rmsNorm(hidden, context.weight(`${prefix}.post_attention_layernorm.weight`), eps);
    const gate = context.project(normedMlp, `${prefix}.mlp.gate_proj`);
    const up = context.project(normedMlp, `${prefix}.mlp.up_proj`);
    const activated = swiglu(gate, up);
    hidden = tf.add(hidden, context.project(activated, `${prefix}.mlp.down_proj`));
  }
  hidden = rmsNorm(hidden, context.weight('model.norm.weight'), eps);
  if (!input.returnCache) return { hidden };
  return { hidden, cache: { length: layout.pastLength + time, layers: newLayers } };
}
