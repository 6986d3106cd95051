import * as tf from '@tensorflow/tfjs-core';
import { type AttentionLayout, attentionBias, attentionBiasValues } from './attention-layout.js';
import { groupedQueryAttention } from './grouped-query-attention.js';

/**
 * Masked grouped-query attention on the projection layout: `queries [b, t, heads, d]`,
 * `keys`/`values [b, s, kvHeads, d]` (s = cached + new) → `[b, t, heads, d]`, with the
 * causal / padding / sliding-window mask of `layout`. Differentiable; the result is owned by
 * the caller.
 *
 * On `wasm` and `cpu` this is one custom op: the operands are read into JS once, each
 * (sequence, key/value head) pair is two plain 2-D matMuls around a softmax, and the gradient is
 * written by hand (`dS = P·(dP − Σ dP·P)`). Why: the generic formulation spends most of its time
 * in head transposes, batched matMuls (3–5× slower than 2-D ones on wasm) and slicing kernels.
 * Other backends use {@link groupedQueryAttention}.
 *
 * @example
 * ```ts
 * const context = causalAttention(q, k, v, layout, config.layerSlidingWindows[layer] ?? null);
 * ```
 */
export function causalAttention(
  queries: tf.Tensor4D,
  keys: tf.Tensor4D,
  values: tf.Tensor4D,
  layout: AttentionLayout,
  slidingWindow: number | null,
): tf.Tensor4D {
  const backend = tf.getBackend();
  if (backend !== 'wasm' && backend !== 'cpu') {
    return tf.tidy(() => {
      const toHeads = (x: tf.Tensor4D) => tf.transpose(x, [0, 2, 1, 3]) as tf.Tensor4D;
      const attended = groupedQueryAttention(
        toHeads(queries),
        toHeads(keys),
        toHeads(values),
        attentionBias(layout, slidingWindow),
      );
      return tf.transpose(attended, [0, 2, 1, 3]) as tf.Tensor4D;
    });
  }
  const bias = attentionBiasValues(layout, slidingWindow);
  const attend = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [q, k, v, save] = args as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D, tf.GradSaveFunc];
    const { value, probabilities } = attentionForward(q, k, v, bias);
    save([q, k, v, ...probabilities]);
    return {
      value,
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) =>
        attentionBackward(
          dy as tf.Tensor4D,
          saved as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D, ...tf.Tensor2D[]],
        ),
    };
  }) as (q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D) => tf.Tensor4D;
  return attend(queries, keys, values);
}

interface Dimensions {
  batch: number;
  time: number;
  keyLength: number;
  heads: number;
  kvHeads: number;
  group: number;
  headDim: number;
  scale: number;
}

function dimensions(q: tf.Tensor4D, k: tf.Tensor4D): Dimensions {
  const [batch, time, heads, headDim] = q.shape;
  const [, keyLength, kvHeads] = k.shape;
  return {
    batch,
    time,
    keyLength,
    heads,
    kvHeads,
    group: heads / kvHeads,
    headDim,
    scale: 1 / Math.sqrt(headDim),
  };
}

/**
 * Queries of the heads of group `kv` in sequence `b`, stacked: `[group·time, d]` (or transposed
 * `[d, group·time]`), times `scale`.
 */
function gatherQueries(
  source: Float32Array,
  dims: Dimensions,
  b: number,
  kv: number,
  scale: number,
  transposed = false,
): Float32Array {
  const { time, heads, group, headDim } = dims;
  const rows = group * time;
  const out = new Float32Array(rows * headDim);
  for (let j = 0; j < group; j++) {
    const head = kv * group + j;
    for (let t = 0; t < time; t++) {
      const from = ((b * time + t) * heads + head) * headDim;
      const row = j * time + t;
      if (transposed) for (let d = 0; d < headDim; d++) out[d * rows + row] = source[from + d]! * scale;
      else for (let d = 0; d < headDim; d++) out[row * headDim + d] = source[from + d]! * scale;
    }
  }
  return out;
}

function scatterQueries(
  target: Float32Array,
  values: Float32Array,
  dims: Dimensions,
  b: number,
  kv: number,
): void {
  const { time, heads, group, headDim } = dims;
  for (let j = 0; j < group; j++) {
    const head = kv * group + j;
    for (let t = 0; t < time; t++) {
      const to = ((b * time + t) * heads + head) * headDim;
      const from = (j * time + t) * headDim;
      for (let d = 0; d < headDim; d++) target[to + d] = values[from + d]!;
    }
  }
}

/** Keys or values of head `kv` in sequence `b`: `[s, d]`, or transposed `[d, s]`. */
function gatherKeys(
  source: Float32Array,
  dims: Dimensions,
  b: number,
  kv: number,
  transposed: boolean,
): Float32Array {
  const { keyLength, kvHeads, headDim } = dims;
  const out = new Float32Array(keyLength * headDim);
  for (let s = 0; s < keyLength; s++) {
    const from = ((b * keyLength + s) * kvHeads + kv) * headDim;
    if (transposed) for (let d = 0; d < headDim; d++) out[d * keyLength + s] = source[from + d]!;
    else for (let d = 0; d < headDim; d++) out[s * headDim + d] = source[from + d]!;
  }
  return out;
}

/** Writes `[d, s]` (transposed) values of head `kv` in sequence `b` into `[b, s, kvHeads, d]`. */
function scatterTransposedKeys(
  target: Float32Array,
  values: Float32Array,
  dims: Dimensions,
  b: number,
  kv: number,
): void {
  const { keyLength, kvHeads, headDim } = dims;
  for (let s = 0; s < keyLength; s++) {
    const to = ((b * keyLength + s) * kvHeads + kv) * headDim;
    for (let d = 0; d < headDim; d++) target[to + d] = values[d * keyLength + s]!;
  }
}

function attentionForward(
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
  bias: Float32Array,
): { value: tf.Tensor4D; probabilities: tf.Tensor2D[] } {
  const dims = dimensions(q, k);
  const { batch, time, keyLength, kvHeads, group, headDim } = dims;
  const queryData = q.dataSync() as Float32Array;
  const keyData = k.dataSync() as Float32Array;
  const valueData = v.dataSync() as Float32Array;
  const out = new Float32Array(q.size);
  const probabilities: tf.Tensor2D[] = [];
  for (let b = 0; b < batch; b++) {
    // One bias tensor per sequence, shared by its key/value heads.
    const rowBias = tf.tensor3d(bias.subarray(b * time * keyLength, (b + 1) * time * keyLength), [
      1,
      time,
      keyLength,
    ]);
    for (let kv = 0; kv < kvHeads; kv++) {
      const [p, context] = tf.tidy(() => {
        const scores = tf.matMul(
          tf.tensor2d(gatherQueries(queryData, dims, b, kv, dims.scale), [group * time, headDim]),
          tf.tensor2d(gatherKeys(keyData, dims, b, kv, true), [headDim, keyLength]),
        );
        const masked = tf.add(tf.reshape(scores, [group, time, keyLength]), rowBias);
        const weights = tf.reshape(tf.softmax(masked, -1), [group * time, keyLength]) as tf.Tensor2D;
        return [
          weights,
          tf.matMul(weights, tf.tensor2d(gatherKeys(valueData, dims, b, kv, false), [keyLength, headDim])),
        ];
      });
      scatterQueries(out, context.dataSync() as Float32Array, dims, b, kv);
      context.dispose();
      probabilities.push(p);
    }
    rowBias.dispose();
  }
  return { value: tf.tensor4d(out, q.shape), probabilities };
}

function attentionBackward(
  dy: tf.Tensor4D,
  saved: [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D, ...tf.Tensor2D[]],
): tf.Tensor[] {
  const [q, k, v, ...probabilities] = saved;
  const dims = dimensions(q, k);
  const { batch, time, keyLength, kvHeads, group, headDim, scale } = dims;
  const gradientData = dy.dataSync() as Float32Array;
  const queryData = q.dataSync() as Float32Array;
  const keyData = k.dataSync() as Float32Array;
  const valueData = v.dataSync() as Float32Array;
  const dq = new Float32Array(q.size);
  const dk = new Float32Array(k.size);
  const dv = new Float32Array(v.size);
  for (let b = 0; b < batch; b++) {
    for (let kv = 0; kv < kvHeads; kv++) {
      const p = probabilities[b * kvHeads + kv]!;
      const [dQuery, dKey, dValue] = tf.tidy(() => {
        const dContext = tf.tensor2d(gatherQueries(gradientData, dims, b, kv, 1), [group * time, headDim]);
        const dWeights = tf.matMul(
          dContext,
          tf.tensor2d(gatherKeys(valueData, dims, b, kv, true), [headDim, keyLength]),
        );
        const dScores = tf.mul(p, tf.sub(dWeights, tf.sum(tf.mul(dWeights, p), -1, true)));
        const keysMatrix = tf.tensor2d(gatherKeys(keyData, dims, b, kv, false), [keyLength, headDim]);
        // dKᵀ = (scaled Q)ᵀ·dS and dVᵀ = dOᵀ·P: the small operands are transposed while
        // gathering, so no [group·time, s] matrix is ever transposed.
        const scaledQueriesTransposed = tf.tensor2d(gatherQueries(queryData, dims, b, kv, scale, true), [
          headDim,
          group * time,
        ]);
        const dContextTransposed = tf.tensor2d(gatherQueries(gradientData, dims, b, kv, 1, true), [
          headDim,
          group * time,
        ]);
        return [
          tf.mul(tf.matMul(dScores, keysMatrix), scale),
          tf.matMul(scaledQueriesTransposed, dScores),
          tf.matMul(dContextTransposed, p),
        ];
      });
      scatterQueries(dq, dQuery.dataSync() as Float32Array, dims, b, kv);
      scatterTransposedKeys(dk, dKey.dataSync() as Float32Array, dims, b, kv);
      scatterTransposedKeys(dv, dValue.dataSync() as Float32Array, dims, b, kv);
      tf.dispose([dQuery, dKey, dValue]);
    }
  }
  return [tf.tensor4d(dq, q.shape), tf.tensor4d(dk, k.shape), tf.tensor4d(dv, v.shape)];
}
