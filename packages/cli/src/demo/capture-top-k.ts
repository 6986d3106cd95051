import { type CaptureRecord, createSparseDistributions, NumericalError } from '@fusechat/core';
import type { CausalLM } from '@fusechat/model';
import * as tf from '@tensorflow/tfjs-core';
import type { TokenizedConversation } from './demo-corpus.js';
import { makeBatch, paddingTokenId } from './train-demo-model.js';

/**
 * Runs `model` over conversations with teacher forcing and keeps, per position, the top-k
 * next-token logits, plus the mean cross-entropy over the supervised tokens: the capture stage
 * of DESIGN.md §1, in memory. (`@fusechat/distribution-capture`, planned, writes the same
 * records to an on-disk store and adds remote providers.)
 *
 * @throws NumericalError when the model produces non-finite logits for an example.
 *
 * @example
 * ```ts
 * const records = await captureTopK(model, conversations, { k: 10, batchSize: 8 });
 * records[0].topK.ids; // [length × 10] next-token ids, best first
 * ```
 */
export async function captureTopK(
  model: CausalLM,
  examples: readonly TokenizedConversation[],
  options: { k: number; batchSize: number; onProgress?: (done: number, total: number) => void },
): Promise<CaptureRecord[]> {
  const { k, batchSize } = options;
  const padId = paddingTokenId(model);
  const records: CaptureRecord[] = [];
  for (let start = 0; start < examples.length; start += batchSize) {
    const indices = Array.from({ length: Math.min(batchSize, examples.length - start) }, (_, i) => start + i);
    const batch = makeBatch(examples, indices, padId);
    const { timeSteps } = batch;
    // gatherND indices [b, t, gold next token] of every position (the pad id past the end).
    const next = new Int32Array(batch.inputIds.length * timeSteps * 3);
    batch.inputIds.forEach((row, b) => {
      for (let t = 0; t < timeSteps; t++) {
        next.set([b, t, t + 1 < timeSteps ? row[t + 1]! : padId], (b * timeSteps + t) * 3);
      }
    });
    const [values, ids, goldLogProbs] = tf.tidy(() => {
      const logits = model.forward(batch.inputIds, { attentionMask: batch.attentionMask });
      const top = tf.topk(logits, k);
      const logProbs = tf.sub(logits, tf.logSumExp(logits, -1, true));
      const gold = tf.gatherND(logProbs, tf.tensor2d(next, [next.length / 3, 3], 'int32'));
      return [top.values, top.indices, gold];
    });
    const [valueData, idData, goldData] = await Promise.all([values.data(), ids.data(), goldLogProbs.data()]);
    tf.dispose([values, ids, goldLogProbs]);
    batch.examples.forEach((example, b) => {
      const length = example.inputIds.length;
      const topK = createSparseDistributions(length, k);
      const offset = b * timeSteps * k;
      topK.ids.set(idData.subarray(offset, offset + length * k) as Int32Array);
      topK.logits.set(valueData.subarray(offset, offset + length * k) as Float32Array);
      if (!topK.logits.every(Number.isFinite)) {
        throw new NumericalError(`the model produced non-finite logits for example "${example.id}"`, {
          code: 'CAPTURE_NON_FINITE_LOGITS',
          details: { example: example.id },
        });
      }
      let total = 0;
      let count = 0;
      for (let t = 0; t + 1 < length; t++) {
        if (example.labelMask[t + 1] !== 1) continue;
        total -= goldData[b * timeSteps + t]!;
        count++;
      }
      records.push({
        id: example.id,
        inputIds: example.inputIds,
        labelMask: example.labelMask,
        topK,
        ce: count === 0 ? Number.NaN : total / count,
      });
    });
    options.onProgress?.(Math.min(start + batchSize, examples.length), examples.length);
  }
  return records;
}
