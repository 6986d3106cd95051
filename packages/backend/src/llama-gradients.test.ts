// The tfjs ops a Llama forward+backward is built from, checked on wasm and cpu: value against a
// float64 reference, gradient against finite differences of that reference.
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, it } from 'vitest';
import { initBackend } from './init-backend.js';
import { batchMatMul } from './ops/batch-mat-mul.js';
import { expectGradientsMatch, referenceBatchMatMul } from './testing/gradient-check.js';

const EPS = 1e-5;

function rows(
  x: Float64Array,
  width: number,
  fn: (row: Float64Array, out: Float64Array) => void,
): Float64Array {
  const out = new Float64Array(x.length);
  for (let r = 0; r < x.length / width; r++)
    fn(x.subarray(r * width, (r + 1) * width), out.subarray(r * width, (r + 1) * width));
  return out;
}

function referenceSoftmaxRow(row: Float64Array, out: Float64Array): void {
  const max = Math.max(...row);
  let total = 0;
  for (let i = 0; i < row.length; i++) total += Math.exp(row[i]! - max);
  for (let i = 0; i < row.length; i++) out[i] = Math.exp(row[i]! - max) / total;
}

function rotaryTables(time: number, dim: number, theta = 10000): { cos: Float64Array; sin: Float64Array } {
  const cos = new Float64Array(time * dim);
  const sin = new Float64Array(time * dim);
  for (let t = 0; t < time; t++)
    for (let i = 0; i < dim; i++) {
      const angle = t / theta ** ((2 * (i % (dim / 2))) / dim);
      cos[t * dim + i] = Math.fround(Math.cos(angle));
      sin[t * dim + i] = Math.fround(Math.sin(angle));
    }
  return { cos, sin };
}

describe.each(['wasm', 'cpu'] as const)('Llama building blocks on %s', (backend) => {
  beforeAll(async () => {
    await initBackend(backend, { quiet: true });
  });

  it('RMSNorm: x · rsqrt(mean(x²) + eps) · w', () => {
    expectGradientsMatch({
      shapes: [[3, 8], [8]],
      compute: (x, w) => tf.mul(tf.mul(x!, tf.rsqrt(tf.add(tf.mean(tf.square(x!), -1, true), EPS))), w!),
      reference: (x, w) =>
        rows(x!, 8, (row, out) => {
          const meanSquare = row.reduce((a, v) => a + v * v, 0) / row.length;
          const scale = 1 / Math.sqrt(meanSquare + EPS);
          row.forEach((v, i) => {
            out[i] = v * scale * w![i]!;
          });
        }),
    });
  });

  it('rotary embedding (HF rotate_half) via slice, neg and concat', () => {
    const [time, dim] = [4, 6];
    const { cos, sin } = rotaryTables(time, dim);
    const cosTensor = tf.tensor2d(Float32Array.from(cos), [time, dim]);
    const sinTensor = tf.tensor2d(Float32Array.from(sin), [time, dim]);
    expectGradientsMatch({
      shapes: [[2, time, dim]],
      compute: (x) => {
        const half = dim / 2;
        const first = tf.slice(x!, [0, 0, 0], [-1, -1, half]);
        const second = tf.slice(x!, [0, 0, half], [-1, -1, half]);
        const rotated = tf.concat([tf.neg(second), first], -1);
        return tf.add(tf.mul(x!, cosTensor), tf.mul(rotated, sinTensor));
      },
      reference: (x) =>
        rows(x!, dim, (row, out) => {
          const t = Math.floor((row.byteOffset / 8 / dim) % time);
          for (let i = 0; i < dim; i++) {
            const rotated = i < dim / 2 ? -row[i + dim / 2]! : row[i - dim / 2]!;
            out[i] = row[i]! * cos[t * dim + i]! + rotated * sin[t * dim + i]!;
          }
        }),
    });
    tf.dispose([cosTensor, sinTensor]);
  });

  it('SwiGLU: silu(gate) · up with silu(x) = x · sigmoid(x)', () => {
    expectGradientsMatch({
      shapes: [
        [3, 5],
        [3, 5],
      ],
      compute: (gate, up) => tf.mul(tf.mul(gate!, tf.sigmoid(gate!)), up!),
      reference: (gate, up) => gate!.map((g, i) => (g / (1 + Math.exp(-g))) * up![i]!),
      scale: 2,
    });
  });

  it('softmax and logSoftmax over the last axis', () => {
    expectGradientsMatch({
      shapes: [[4, 6]],
      compute: (x) => tf.softmax(x!),
      reference: (x) => rows(x!, 6, referenceSoftmaxRow),
      scale: 3,
    });
    expectGradientsMatch({
      shapes: [[4, 6]],
      compute: (x) => tf.logSoftmax(x!),
      reference: (x) =>
        rows(x!, 6, (row, out) => {
          referenceSoftmaxRow(row, out);
          out.forEach((p, i) => {
            out[i] = Math.log(p);
          });
        }),
      scale: 3,
      seed: 2,
    });
  });

  it('causal attention: where-masked softmax(q·kᵀ/√d)·v with batchMatMul', () => {
    const [heads, time, headDim] = [2, 4, 3];
    const mask = tf.tensor2d(
      Array.from({ length: time }, (_, i) => Array.from({ length: time }, (_, j) => j <= i)),
      undefined,
      'bool',
    );
    const negative = tf.scalar(-1e9);
    expectGradientsMatch({
      shapes: [
        [1, heads, time, headDim],
        [1, heads, time, headDim],
        [1, heads, time, headDim],
      ],
      compute: (q, k, v) => {
        const scores = tf.div(batchMatMul(q!, k!, { transposeB: true }), Math.sqrt(headDim));
        const masked = tf.where(tf.broadcastTo(mask, scores.shape), scores, negative);
        return batchMatMul(tf.softmax(masked), v!);
      },
      reference: (q, k, v) => {
        const scores = referenceBatchMatMul(q!, k!, heads, time, headDim, time, false, true);
        const probabilities = rows(scores, time, (row, out) => {
          const t = Math.floor(row.byteOffset / 8 / time) % time;
          const masked = row.map((s, j) => (j <= t ? s / Math.sqrt(headDim) : -1e9));
          referenceSoftmaxRow(masked, out);
        });
        return referenceBatchMatMul(probabilities, v!, heads, time, time, headDim);
      },
    });
    tf.dispose([mask, negative]);
  });

  it('next-token cross-entropy: logSoftmax + gather of the label logit', () => {
    const labels = [2, 0, 4];
    const vocab = 5;
    const flatIndex = tf.tensor1d(
      labels.map((label, i) => i * vocab + label),
      'int32',
    );
    expectGradientsMatch({
      shapes: [[3, vocab]],
      compute: (logits) => tf.neg(tf.mean(tf.gather(tf.reshape(tf.logSoftmax(logits!), [-1]), flatIndex))),
      reference: (logits) => {
        let total = 0;
        labels.forEach((label, i) => {
          const row = logits!.subarray(i * vocab, (i + 1) * vocab);
          const max = Math.max(...row);
          const logSum = max + Math.log(row.reduce((a, v) => a + Math.exp(v - max), 0));
          total += logSum - row[label]!;
        });
        return Float64Array.of(total / labels.length);
      },
      scale: 2,
    });
    flatIndex.dispose();
  });
});
