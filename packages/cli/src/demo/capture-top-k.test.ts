import { initBackend } from '@fusechat/backend';
import { createModel } from '@fusechat/model';
import { beforeAll, describe, expect, it } from 'vitest';
import { captureTopK } from './capture-top-k.js';
import type { TokenizedConversation } from './demo-corpus.js';

describe('captureTopK', () => {
  beforeAll(async () => {
    await initBackend('cpu', { quiet: true });
  });

  it('keeps the k largest logits per position and the mean response CE, equal to float64 from the logits', async () => {
    const model = createModel(
      {
        modelType: 'llama',
        vocabSize: 40,
        hiddenSize: 16,
        intermediateSize: 32,
        numHiddenLayers: 1,
        numAttentionHeads: 2,
        numKeyValueHeads: 1,
        eosTokenId: 2,
        initializerRange: 0.5,
      },
      { seed: 5 },
    );
    // Different lengths, so the batch is padded; the first tokens are context, the rest supervised.
    const examples: TokenizedConversation[] = [
      {
        id: 'a',
        inputIds: Int32Array.from([1, 7, 9, 30, 4, 2]),
        labelMask: Uint8Array.from([0, 0, 0, 1, 1, 1]),
      },
      { id: 'b', inputIds: Int32Array.from([1, 5, 2]), labelMask: Uint8Array.from([0, 1, 1]) },
      { id: 'c', inputIds: Int32Array.from([1, 3, 3, 8]), labelMask: Uint8Array.from([0, 0, 0, 0]) },
    ];
    try {
      const records = await captureTopK(model, examples, { k: 4, batchSize: 3 });
      expect(records.map((record) => record.id)).toEqual(['a', 'b', 'c']);
      for (const [index, example] of examples.entries()) {
        const record = records[index]!;
        // Each example alone, unpadded: the reference never sees the batch's padding.
        const [logits] = await model.logits([Array.from(example.inputIds)], undefined, { output: 'array' });
        let total = 0;
        let count = 0;
        logits!.forEach((row, t) => {
          const order = row.map((value, id) => ({ value, id })).sort((x, y) => y.value - x.value);
          expect(Array.from(record.topK.ids.subarray(t * 4, t * 4 + 4))).toEqual(
            order.slice(0, 4).map((e) => e.id),
          );
          order.slice(0, 4).forEach((entry, slot) => {
            expect(record.topK.logits[t * 4 + slot]).toBeCloseTo(entry.value, 4);
          });
          if (t + 1 < row.length && example.labelMask[t + 1] === 1) {
            const max = Math.max(...row);
            const logSumExp = max + Math.log(row.reduce((sum, value) => sum + Math.exp(value - max), 0));
            total += logSumExp - row[example.inputIds[t + 1]!]!;
            count++;
          }
        });
        if (count === 0) expect(record.ce).toBeNaN();
        else expect(record.ce).toBeCloseTo(total / count, 5);
      }
    } finally {
      model.dispose();
    }
  });
});
