import { UnknownNameError } from '@fusechat/core';
import * as tf from '@tensorflow/tfjs-core';
import type { SparseLossPlan } from './sparse-loss-plan.js';

/**
 * How the softmax over the vocabulary is computed.
 *
 * - `softmax-kernel`: one `tf.softmax` (a fused native kernel on wasm, webgl and tfjs-node);
 *   `logsumexp = max − log(max softmax)`. Saves the probabilities for the gradient.
 * - `broadcast-free`: `exp(z − max)` with the row max expanded by a rank-1 matMul, so no op
 *   broadcasts. The pure-JS `cpu` backend runs broadcasting binary ops (and its softmax, built
 *   from them) 10–15× slower than same-shape ones. Saves `exp(z − max)` for the gradient.
 * - `auto` (default): `broadcast-free` on the `cpu` backend, `softmax-kernel` elsewhere.
 */
export type SoftmaxStrategy = 'auto' | 'softmax-kernel' | 'broadcast-free';

const STRATEGIES = ['auto', 'softmax-kernel', 'broadcast-free'] as const;

export function resolveStrategy(strategy: SoftmaxStrategy | undefined): 'softmax-kernel' | 'broadcast-free' {
  const chosen = strategy ?? 'auto';
  if (!(STRATEGIES as readonly string[]).includes(chosen)) {
    throw new UnknownNameError('softmax strategy', String(chosen), STRATEGIES);
  }
  if (chosen !== 'auto') return chosen;
  return tf.getBackend() === 'cpu' ? 'broadcast-free' : 'softmax-kernel';
}

/**
 * The loss of a {@link SparseLossPlan} as one differentiable op on the student logits `[B, T, V]`:
 * `Σ_n w_n·logsumexp(z_n) − Σ_m a_m·z_m + constant`, with the gradient written by hand,
 * `w_n·softmax(z_n) − scatter(a)`, so no dense target and no `tf.gather` gradient (which has no
 * wasm kernel) are needed, and no gradient has to be registered with tfjs-core.
 *
 * Every `z_m` is taken relative to its row max (`z_m − max_n`) and the logsumexp is `max_n +
 * log Σ exp(z − max_n)`; since the weights of each row sum to `w_n` the two maxima cancel, so
 * logits of magnitude 1e4 lose no precision to cancellation.
 *
 * `onParts` receives the value of each term (before scaling) as plain numbers.
 */
export function sparseCrossEntropy(
  logits: tf.Tensor,
  plan: SparseLossPlan,
  strategy: 'softmax-kernel' | 'broadcast-free',
  onParts?: (parts: number[]) => void,
): tf.Scalar {
  const { rows, vocabSize } = plan;
  const entries = plan.entryIndices.length;
  const shape = logits.shape;

  if (plan.activeRows === 0) {
    // Nothing supervised: the loss is 0 (DESIGN §3) and so is the gradient.
    const empty = tf.customGrad((...inputs: (tf.Tensor | tf.GradSaveFunc)[]) => ({
      value: tf.scalar(plan.constant),
      gradFunc: () => tf.zerosLike(inputs[0] as tf.Tensor),
    }));
    onParts?.(plan.termConstants.slice());
    return empty(logits) as tf.Scalar;
  }

  const op = tf.customGrad((...inputs: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [z, save] = inputs as [tf.Tensor, tf.GradSaveFunc];
    const z2 = tf.reshape(z, [rows, vocabSize]);
    const rowMax = tf.max(z2, 1);
    let logNormalizer: tf.Tensor;
    if (strategy === 'softmax-kernel') {
      const probabilities = tf.softmax(z2);
      // The max entry of softmax is exp(0)/Σexp(z − max) = 1/Σ: −log of it is log Σ exp(z − max).
      logNormalizer = tf.neg(tf.log(tf.max(probabilities, 1)));
      save([probabilities]);
    } else {
      // Intermediates are disposed as soon as they are used to keep the peak at ~2 [rows, V] buffers.
      const expandedMax = tf.matMul(tf.reshape(rowMax, [rows, 1]), tf.ones([1, vocabSize]));
      const shifted = tf.sub(z2, expandedMax);
      expandedMax.dispose();
      const exps = tf.exp(shifted);
      shifted.dispose();
      const sums = tf.sum(exps, 1);
      logNormalizer = tf.log(sums);
      save([exps, sums]);
    }
    const indices = tf.tensor1d(plan.entryIndices, 'int32');
    const picked = tf.sub(
      tf.gather(tf.reshape(z, [rows * vocabSize]), indices),
      tf.gather(rowMax, tf.tensor1d(plan.entryRows, 'int32')),
    );
    // parts[c] = Σ_n w_{c,n} logΣexp_n − Σ_m a_{c,m} (z_m − max): [termCount].
    const parts = tf.sub(
      tf.reshape(
        tf.matMul(
          tf.tensor2d(plan.termRowWeights, [plan.termCount, rows]),
          tf.reshape(logNormalizer, [rows, 1]),
        ),
        [plan.termCount],
      ),
      tf.reshape(
        tf.matMul(
          tf.tensor2d(plan.termEntryWeights, [plan.termCount, entries]),
          tf.reshape(picked, [entries, 1]),
        ),
        [plan.termCount],
      ),
    );
    if (onParts) {
      const values = parts.dataSync();
      onParts(Array.from(values, (value, c) => value + plan.termConstants[c]!));
    }
    const value = tf.add(
      tf.sum(tf.mul(parts, tf.tensor1d(plan.termScales as number[]))),
      tf.scalar(plan.constant),
    );

    const gradFunc = (dy: tf.Scalar, saved: tf.Tensor[]): tf.Tensor => {
      let scaled: tf.Tensor;
      if (strategy === 'softmax-kernel') {
        const [probabilities] = saved as [tf.Tensor];
        // A scalar multiply when every row has the same weight; otherwise a [rows, 1] broadcast.
        const rowScale =
          plan.uniformRowWeight !== undefined
            ? tf.mul(dy, plan.uniformRowWeight)
            : tf.reshape(tf.mul(dy, tf.tensor1d(plan.rowWeights)), [rows, 1]);
        scaled = tf.mul(probabilities, rowScale);
      } else {
        const [exps, sums] = saved as [tf.Tensor, tf.Tensor];
        const rowScale = tf.reshape(tf.div(tf.mul(dy, tf.tensor1d(plan.rowWeights)), sums), [rows, 1]);
        const expandedScale = tf.matMul(rowScale, tf.ones([1, vocabSize]));
        scaled = tf.mul(exps, expandedScale);
        expandedScale.dispose();
      }
      const flat = tf.reshape(scaled, [rows * vocabSize]);
      const indices = tf.tensor1d(plan.entryIndices, 'int32');
      const updates = tf.sub(tf.gather(flat, indices), tf.mul(dy, tf.tensor1d(plan.entryWeights)));
      // Entries are distinct, so the update of each is well defined. (The cpu kernel writes into
      // the input's buffer; `scaled` is ours and dies here, so that is harmless.)
      const gradient = tf.tensorScatterUpdate(flat, tf.reshape(indices, [entries, 1]), updates);
      scaled.dispose();
      return tf.reshape(gradient, shape);
    };
    return { value: value as tf.Scalar, gradFunc };
  });
  return op(logits) as tf.Scalar;
}
