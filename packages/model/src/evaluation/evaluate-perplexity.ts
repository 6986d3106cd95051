import { InvalidInputError, type ProgressCallback } from '@fusechat/core';
import * as tf from '@tensorflow/tfjs-core';
import type { CausalLM } from '../model/causal-lm.js';

/** One batch for {@link evaluatePerplexity}. */
export interface PerplexityBatch {
  readonly inputIds: readonly (readonly number[])[];
  /**
   * Labels aligned with `inputIds` (as in `transformers`: the model shifts them, so position `t`
   * predicts `labels[t + 1]`); −100 = not scored. Default: `inputIds`, scoring each real token
   * whose predecessor is real.
   */
  readonly labels?: readonly (readonly number[])[];
  /** 0/1 padding mask (default all ones). */
  readonly attentionMask?: readonly (readonly number[])[];
}

/** Mean next-token cross-entropy (nats) over scored tokens, its exponential, and the token count. */
export interface PerplexityResult {
  readonly loss: number;
  readonly perplexity: number;
  readonly tokens: number;
}

/**
 * Token-weighted mean next-token cross-entropy and perplexity of `model` over `batches`
 * (labels −100 ignored, `transformers` shift convention). Frees every tensor it creates.
 *
 * @example
 * ```ts
 * const { loss, perplexity, tokens } = await evaluatePerplexity(model, [{ inputIds: [[1, 5, 9, 2]] }]);
 * ```
 */
export async function evaluatePerplexity(
  model: CausalLM,
  batches: Iterable<PerplexityBatch> | AsyncIterable<PerplexityBatch>,
  options: { onProgress?: ProgressCallback } = {},
): Promise<PerplexityResult> {
  let totalLoss = 0;
  let tokens = 0;
  let batchIndex = 0;
  for await (const batch of batches) {
    const { inputIds, attentionMask } = batch;
    // Default labels: every real token whose predecessor is real too (a pad predicts nothing).
    const labels =
      batch.labels ??
      inputIds.map((row, b) =>
        row.map((id, t) =>
          attentionMask && (!attentionMask[b]![t] || !attentionMask[b]![t - 1]) ? -100 : id,
        ),
      );
    const vocab = model.config.vocabSize;
    const rows: number[] = [];
    const targets: number[] = [];
    const time = inputIds[0]?.length ?? 0;
    labels.forEach((row, b) => {
      if (row.length !== inputIds[b]?.length) {
        throw new InvalidInputError(
          `labels[${b}] has ${row.length} entries, inputIds[${b}] has ${inputIds[b]?.length}.`,
          {
            code: 'MODEL_INVALID_INPUT',
            field: `labels[${b}]`,
          },
        );
      }
      for (let t = 1; t < row.length; t++) {
        const label = row[t]!;
        if (label === -100) continue;
        if (!Number.isInteger(label) || label < 0 || label >= vocab) {
          throw new InvalidInputError(
            `labels[${b}][${t}] = ${label} is neither −100 nor a token id in [0, ${vocab}).`,
            {
              code: 'MODEL_INVALID_INPUT',
              field: `labels[${b}][${t}]`,
            },
          );
        }
        rows.push(b * time + t - 1);
        targets.push(label);
      }
    });
    if (rows.length > 0) {
      const logits = model.forward(inputIds, { attentionMask });
      const losses = tf.tidy(() => {
        const scored = tf.gather(tf.reshape(logits, [-1, vocab]), tf.tensor1d(rows, 'int32'));
        const picked = tf.gather(
          tf.reshape(scored, [-1]),
          tf.tensor1d(
            targets.map((target, i) => i * vocab + target),
            'int32',
          ),
        );
        return tf.sub(tf.logSumExp(scored, -1), picked);
      });
      logits.dispose();
      const values = await losses.data();
      losses.dispose();
      for (const value of values) totalLoss += value;
      tokens += values.length;
    }
    batchIndex++;
    options.onProgress?.({ task: 'evaluate', completed: batchIndex, unit: 'batches' });
  }
  const loss = tokens === 0 ? Number.NaN : totalLoss / tokens;
  return { loss, perplexity: Math.exp(loss), tokens };
}
