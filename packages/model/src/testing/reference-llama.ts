// Independent float64 reference of the Llama-family forward pass for the parity tests: plain
// loops over Float64Arrays, no tfjs, written from the transformers modeling code's semantics.
import type { ModelConfig } from '../config/model-config.js';

export type ReferenceWeights = ReadonlyMap<string, Float64Array>;

function matVec(
  weight: Float64Array,
  bias: Float64Array | undefined,
  x: Float64Array,
  out: number,
): Float64Array {
  const inFeatures = x.length;
  const y = new Float64Array(out);
  for (let o = 0; o < out; o++) {
    let sum = bias ? bias[o]! : 0;
    const row = o * inFeatures;
    for (let i = 0; i < inFeatures; i++) sum += weight[row + i]! * x[i]!;
    y[o] = sum;
  }
  return y;
}

function rmsNorm(x: Float64Array, weight: Float64Array, eps: number): Float64Array {
  let meanSquare = 0;
  for (const value of x) meanSquare += value * value;
  meanSquare /= x.length;
  const scale = 1 / Math.sqrt(meanSquare + eps);
  return x.map((value, i) => value * scale * weight[i]!);
}

function rope(
  vector: Float64Array,
  heads: number,
  headDim: number,
  position: number,
  theta: number,
): Float64Array {
  const out = new Float64Array(vector.length);
  const half = headDim / 2;
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < half; i++) {
      const angle = position / theta ** ((2 * i) / headDim);
      const a = vector[h * headDim + i]!;
      const b = vector[h * headDim + i + half]!;
      out[h * headDim + i] = a * Math.cos(angle) - b * Math.sin(angle);
      out[h * headDim + i + half] = b * Math.cos(angle) + a * Math.sin(angle);
    }
  }
  return out;
}

/** Logits `[batch][time][vocab]` in float64 for `ids` with an optional 0/1 mask. */
export function referenceLogits(
  config: ModelConfig,
  weights: ReferenceWeights,
  ids: number[][],
  mask?: number[][],
): number[][][] {
  const w = (name: string) => {
    const found = weights.get(name);
    if (!found) throw new Error(`reference: missing ${name}`);
    return found;
  };
  const {
    hiddenSize,
    numAttentionHeads: heads,
    numKeyValueHeads: kvHeads,
    headDim,
    vocabSize,
    rmsNormEps: eps,
  } = config;
  const group = heads / kvHeads;
  return ids.map((row, b) => {
    const rowMask = mask?.[b] ?? row.map(() => 1);
    const positions: number[] = [];
    let count = 0;
    for (let t = 0; t < row.length; t++) {
      count += rowMask[t]!;
      positions.push(rowMask[t] ? count - 1 : 1);
    }
    const embed = w('model.embed_tokens.weight');
    let hidden = row.map((id) => embed.slice(id * hiddenSize, (id + 1) * hiddenSize));
    for (let layer = 0; layer < config.numHiddenLayers; layer++) {
      const p = `model.layers.${layer}`;
      const bias = (name: string) => weights.get(`${name}.bias`);
      const window = config.layerSlidingWindows[layer] ?? null;
      const normed = hidden.map((x) => rmsNorm(x, w(`${p}.input_layernorm.weight`), eps));
      const project = (name: string, x: Float64Array, out: number) =>
        matVec(w(`${name}.weight`), bias(name), x, out);
      const q = normed.map((x, t) =>
        rope(
          project(`${p}.self_attn.q_proj`, x, heads * headDim),
          heads,
          headDim,
          positions[t]!,
          config.ropeTheta,
        ),
      );
      const k = normed.map((x, t) =>
        rope(
          project(`${p}.self_attn.k_proj`, x, kvHeads * headDim),
          kvHeads,
          headDim,
          positions[t]!,
          config.ropeTheta,
        ),
      );
      const v = normed.map((x) => project(`${p}.self_attn.v_proj`, x, kvHeads * headDim));
      hidden = hidden.map((x, t) => {
        const context = new Float64Array(heads * headDim);
        for (let h = 0; h < heads; h++) {
          const kv = Math.floor(h / group);
          const scores: number[] = [];
          const visible: number[] = [];
          for (let j = 0; j <= t; j++) {
            if (!rowMask[j] || (window !== null && t - j >= window)) continue;
            let dot = 0;
            for (let d = 0; d < headDim; d++) dot += q[t]![h * headDim + d]! * k[j]![kv * headDim + d]!;
            scores.push(dot / Math.sqrt(headDim));
            visible.push(j);
          }
          const max = Math.max(...scores);
          const exps = scores.map((s) => Math.exp(s - max));
          const total = exps.reduce((a, c) => a + c, 0);
          visible.forEach((j, n) => {
            for (let d = 0; d < headDim; d++)
              context[h * headDim + d]! += (exps[n]! / total) * v[j]![kv * headDim + d]!;
          });
        }
        const attention = project(`${p}.self_attn.o_proj`, context, hiddenSize);
        const afterAttention = x.map((value, i) => value + attention[i]!);
        const normedMlp = rmsNorm(afterAttention, w(`${p}.post_attention_layernorm.weight`), eps);
        const gate = project(`${p}.mlp.gate_proj`, normedMlp, config.intermediateSize);
        const up = project(`${p}.mlp.up_proj`, normedMlp, config.intermediateSize);
        const activated = gate.map((g, i) => (g / (1 + Math.exp(-g))) * up[i]!);
        const down = project(`${p}.mlp.down_proj`, activated, hiddenSize);
        return afterAttention.map((value, i) => value + down[i]!);
      });
    }
    const head = config.tieWordEmbeddings ? w('model.embed_tokens.weight') : w('lm_head.weight');
    return hidden.map((x) =>
      Array.from(matVec(head, undefined, rmsNorm(x, w('model.norm.weight'), eps), vocabSize)),
    );
  });
}

/** `‖a − b‖ / ‖b‖` over the positions where `mask` is 1 (all when absent). */
export function relativeError(actual: number[][][], expected: number[][][], mask?: number[][]): number {
  let difference = 0;
  let norm = 0;
  for (let b = 0; b < expected.length; b++) {
    for (let t = 0; t < expected[b]!.length; t++) {
      if (mask && !mask[b]![t]) continue;
      expected[b]![t]!.forEach((value, v) => {
        difference += (actual[b]![t]![v]! - value) ** 2;
        norm += value ** 2;
      });
    }
  }
  return Math.sqrt(difference / norm);
}
