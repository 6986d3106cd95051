import { InvalidInputError, type ProgressCallback } from '@fusechat/core';
import * as tf from '@tensorflow/tfjs-core';
import type { CausalLM } from '../model/causal-lm.js';
import { assertFinite } from '../numerics/assert-finite.js';

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

/** Options of {@link evaluatePerplexity}. */
export interface EvaluatePerplexityOptions {
  readonly onProgress?: ProgressCallback;
  /**
   * Rows of a batch run through the model at once: the logits of a pass take
   * `rowsPerPass × time × vocab × 4` bytes (≈ 600 MB for one 1024-token row of a 152k
   * vocabulary). Default: as many rows as stay under 256 MiB, at least one. The result does not
   * depend on it.
   */
  readonly rowsPerPass?: number;
}

const DEFAULT_LOGITS_BYTES = 256 * 1024 ** 2;

/**
 * Token-weighted mean next-token cross-entropy and perplexity of `model` over `batches`
 * (labels −100 ignored, `transformers` shift convention). A batch is run `rowsPerPass` rows at a
 * time, so peak memory stays bounded for large vocabularies. Frees every tensor it creates.
 *
 * @example
 * ```ts
 * const { loss, perplexity, tokens } = await evaluatePerplexity(model, [{ inputIds: [[1, 5, 9, 2]] }]);
 * await evaluatePerplexity(model, batches, { rowsPerPass: 1 }); // one example's logits at a time
 * ```
 */
export async function evaluatePerplexity(
  model: CausalLM,
  batches: Iterable<PerplexityBatch> | AsyncIterable<PerplexityBatch>,
  options: EvaluatePerplexityOptions = {},
): Promise<PerplexityResult> {
  const { rowsPerPass } = options;
  if (rowsPerPass !== undefined && !(Number.isInteger(rowsPerPass) && rowsPerPass > 0)) {
    throw new InvalidInputError(`rowsPerPass must be a positive integer, got ${rowsPerPass}.`, {
      code: 'MODEL_INVALID_OPTIONS',
      field: 'rowsPerPass',
    });
  }
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
    const time = inputIds[0]?.length ?? 0;
    if (labels.length !== inputIds.length) {
      throw new InvalidInputError(`labels has ${labels.length} rows, inputIds has ${inputIds.length}.`, {
        code: 'MODEL_INVALID_INPUT',
        field: 'labels',
      });
    }
    // Per example: the positions that predict a scored label, and those labels.
    const scored = labels.map((row, b) => {
      if (row.length !== inputIds[b]?.length) {
        throw new InvalidInputError(
          `labels[${b}] has ${row.length} entries, inputIds[${b}] has ${inputIds[b]?.length}.`,
          {
            code: 'MODEL_INVALID_INPUT',
            field: `labels[${b}]`,
          },
        );
      }
      const positions: number[] = [];
      const targets: number[] = [];
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
        positions.push(t - 1);
        targets.push(label);
      }
      return { positions, targets };
    });
    const chunk =
      rowsPerPass ?? Math.max(1, Math.floor(DEFAULT_LOGITS_BYTES / (4 * Math.max(1, time) * vocab)));
    for (let start = 0; start < inputIds.length; start += chunk) {
      const end = Math.min(start + chunk, inputIds.length);
      const rows: number[] = [];
      const picks: number[] = [];
      for (let b = start; b < end; b++) {
        const { positions, targets } = scored[b]!;
        positions.forEach((position, i) => {
          picks.push(rows.length * vocab + targets[i]!);
          rows.push((b - start) * time + position);
        });
      }
      if (rows.length === 0) continue;
      const logits = model.forward(inputIds.slice(start, end), {
        attentionMask: attentionMask?.slice(start, end),
      });
      const losses = tf.tidy(() => {
        const selected = tf.gather(tf.reshape(logits, [-1, vocab]), tf.tensor1d(rows, 'int32'));
        const picked = tf.gather(tf.reshape(selected, [-1]), tf.tensor1d(picks, 'int32'));
        return tf.sub(tf.logSumExp(selected, -1), picked);
      });
      logits.dispose();
      const values = await losses.data();
      losses.dispose();
      assertFinite(
        values,
        'MODEL_NON_FINITE_LOSS',
        `The token losses of batch ${batchIndex + 1}, rows ${start + 1}–${end} (NaN or infinite logits: check the weights and config.json)`,
        { batch: batchIndex, rows: [start, end] },
      );
      for (const value of values) totalLoss += value;
      tokens += values.length;
    }
    batchIndex++;
    options.onProgress?.({ task: 'evaluate', completed: batchIndex, unit: 'batches' });
  }
  const loss = tokens === 0 ? Number.NaN : totalLoss / tokens;
  return { loss, perplexity: Math.exp(loss), tokens };
}
