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
  const [batchSize, timeSteps] = logits.shape as [number, number, number];
  // [b, t, id] of every entry, for gatherND / tensorScatterUpdate on the [B, T, V] tensors.
  const coordinates = new Int32Array(entries * 3);
  for (let m = 0; m < entries; m++) {
    const row = plan.entryRows[m]!;
    coordinates[3 * m] = Math.floor(row / timeSteps);
    coordinates[3 * m + 1] = row % timeSteps;
    coordinates[3 * m + 2] = plan.entryIndices[m]! - row * vocabSize;
  }

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
    // Everything big stays [B, T, V]: tfjs counts every reshaped view of a tensor in
    // tf.memory().numBytes, and big intermediates are disposed as soon as they are used.
    const rowMax = tf.max(z, -1);
    let logNormalizer: tf.Tensor;
    if (strategy === 'softmax-kernel') {
      const probabilities = tf.softmax(z);
      // The max entry of softmax is exp(0)/Σexp(z − max) = 1/Σ: −log of it is log Σ exp(z − max).
      logNormalizer = tf.neg(tf.log(tf.max(probabilities, -1)));
      save([probabilities]);
      probabilities.dispose(); // the saved clone keeps the buffer
    } else {
      const expandedMax = tf.matMul(
        tf.reshape(rowMax, [batchSize, timeSteps, 1]),
        tf.ones([batchSize, 1, vocabSize]),
      );
      const shifted = tf.sub(z, expandedMax);
      expandedMax.dispose();
      const exps = tf.exp(shifted);
      shifted.dispose();
      const sums = tf.sum(exps, -1);
      logNormalizer = tf.log(sums);
      save([exps, sums]);
      exps.dispose();
    }
    const picked = tf.sub(
      tf.gatherND(z, tf.tensor2d(coordinates, [entries, 3], 'int32')),
      tf.gather(tf.reshape(rowMax, [rows]), tf.tensor1d(plan.entryRows, 'int32')),
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
        // A [B, T, 1] broadcast (as fast as a scalar multiply on wasm); zero on inactive rows.
        const rowScale = tf.reshape(tf.mul(dy, tf.tensor1d(plan.rowWeights)), [batchSize, timeSteps, 1]);
        scaled = tf.mul(probabilities, rowScale);
      } else {
        const [exps, sums] = saved as [tf.Tensor, tf.Tensor];
        const rowScale = tf.div(tf.mul(dy, tf.tensor1d(plan.rowWeights)), tf.reshape(sums, [rows]));
        const expandedScale = tf.matMul(
          tf.reshape(rowScale, [batchSize, timeSteps, 1]),
          tf.ones([batchSize, 1, vocabSize]),
        );
        scaled = tf.mul(exps, expandedScale);
        expandedScale.dispose();
      }
      // The saved buffer is not needed any more: free it now rather than after the whole backward
      // pass (the engine's later dispose of saved tensors is then a no-op).
      for (const tensor of saved) tensor.dispose();
      const entryCoordinates = tf.tensor2d(coordinates, [entries, 3], 'int32');
      const updates = tf.sub(
        tf.gatherND(scaled, entryCoordinates),
        tf.mul(dy, tf.tensor1d(plan.entryWeights)),
      );
      // Entries are distinct, so the update of each is well defined. (The cpu kernel writes into
      // the input's buffer; `scaled` is ours and dies here, so that is harmless.)
      const gradient = tf.tensorScatterUpdate(scaled, entryCoordinates, updates);
      scaled.dispose();
      return gradient;
    };
    return { value: value as tf.Scalar, gradFunc };
  });
  return op(logits) as tf.Scalar;
}
