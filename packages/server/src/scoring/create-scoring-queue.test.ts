import type { TokenizerLike } from '@fusechat/core';
import type { CausalLM } from '@fusechat/model';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { referenceLogSoftmax, tinyModelAndTokenizer } from '../testing/fixtures.js';
import { createScoringQueue } from './create-scoring-queue.js';

let model: CausalLM;
let tokenizer: TokenizerLike;

beforeAll(async () => {
  ({ model, tokenizer } = await tinyModelAndTokenizer(5));
});
afterAll(() => model?.dispose());

const SEQUENCES = [
  [1, 415, 2936, 9060, 285],
  [1, 22557, 28725],
  [1, 330, 1628, 302, 264, 1215, 28723, 13],
  [1, 9],
];

describe('createScoringQueue', () => {
  it('batches concurrent requests into one forward pass, each with its own k, equal to scoring alone', async () => {
    const queue = createScoringQueue(model, tokenizer, { windowMs: 5, logitsBudgetBytes: 32000 * 4 * 5 * 3 });
    const before = tf.memory().numTensors;
    const together = await Promise.all(SEQUENCES.map((sequence, i) => queue.score(sequence, i + 1)));
    expect(queue.batchesRun).toBe(1);
    expect(tf.memory().numTensors).toBe(before);
    for (const [i, sequence] of SEQUENCES.entries()) {
      const alone = await queue.score(sequence, i + 1);
      const scored = together[i]!;
      expect(scored.k).toBe(i + 1);
      expect(Array.from(scored.ids)).toEqual(Array.from(alone.ids));
      for (let j = 0; j < scored.logProbs.length; j++)
        expect(Math.abs(scored.logProbs[j]! - alone.logProbs[j]!)).toBeLessThan(1e-5);
      // Against a float64 log-softmax of the full logits.
      const reference = await referenceLogSoftmax(model, sequence);
      for (let t = 0; t + 1 < sequence.length; t++) {
        const row = reference[t]!;
        expect(Math.abs(scored.nextTokenLogProbs[t]! - row[sequence[t + 1]!]!)).toBeLessThan(1e-4);
        expect(scored.nextTokenRanks[t]).toBe(row.filter((value) => value >= row[sequence[t + 1]!]!).length);
        expect(Math.abs(scored.logProbs[t * scored.k]! - Math.max(...row))).toBeLessThan(1e-4);
      }
    }
    expect(queue.batchesRun).toBe(1 + SEQUENCES.length);
  });

  it('splits a window over maxBatchTokens into several passes, in order', async () => {
    const queue = createScoringQueue(model, tokenizer, { windowMs: 5, maxBatchTokens: 10 });
    const results = await Promise.all(SEQUENCES.map((sequence) => queue.score(sequence, 2)));
    expect(results.map((result) => result.length)).toEqual(SEQUENCES.map((sequence) => sequence.length));
    // 5 + 3 tokens, then 8 + 2.
    expect(queue.batchesRun).toBe(2);
  });
});
