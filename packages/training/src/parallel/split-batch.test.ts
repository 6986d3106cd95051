import { describe, expect, it } from 'vitest';
import { createArrayDataset } from '../testing/array-dataset.js';
import { tinyExamples } from '../testing/tiny-model.js';
import { splitBatchRows } from './split-batch.js';

describe('splitBatchRows', () => {
  it('cuts consecutive rows, trims each part to its longest row and keeps every position and target', async () => {
    const dataset = createArrayDataset(tinyExamples(5, { targets: true }), { batchSize: 5, shuffle: false });
    const batch = await dataset.batch(0, 0, 1);
    const parts = splitBatchRows(batch, 2);
    expect(parts.map((part) => part.inputIds.length)).toEqual([3, 2]);
    expect(parts.flatMap((part) => part.exampleIds)).toEqual(batch.exampleIds);
    expect(parts.reduce((sum, part) => sum + part.supervisedPositions, 0)).toBe(batch.supervisedPositions);
    expect(parts.reduce((sum, part) => sum + part.tokens, 0)).toBe(batch.tokens);
    const [, fullTime, k] = batch.targets!.shape;
    let row = 0;
    for (const part of parts) {
      const [rows, time] = part.targets!.shape;
      const lengths = part.attentionMask.map((mask) => mask.filter((x) => x === 1).length);
      expect(time).toBe(Math.max(...lengths)); // trimmed to the part's longest row
      expect(part.paddedTokens).toBe(rows * time);
      for (let r = 0; r < rows; r++, row++) {
        expect(part.inputIds[r]).toEqual(batch.inputIds[row]!.slice(0, time));
        expect(part.labels[r]).toEqual(batch.labels[row]!.slice(0, time));
        // Every slot of the row's real positions, ids and logits, is where it was.
        for (let t = 0; t < time; t++)
          for (let j = 0; j < k; j++) {
            const from = (row * fullTime + t) * k + j;
            const to = (r * time + t) * k + j;
            expect(part.targets!.ids[to]).toBe(batch.targets!.ids[from]);
            expect(part.targets!.logits[to]).toBe(batch.targets!.logits[from]);
          }
        // What was cut is padding only.
        expect(batch.attentionMask[row]!.slice(time).every((x) => x === 0)).toBe(true);
      }
    }
  });

  it('gives one part per row when asked for more parts than rows, and the batch itself for one part', async () => {
    const dataset = createArrayDataset(tinyExamples(2), { batchSize: 2, shuffle: false });
    const batch = await dataset.batch(0, 0, 1);
    expect(splitBatchRows(batch, 1)).toEqual([batch]);
    expect(splitBatchRows(batch, 5).map((part) => part.exampleIds)).toEqual([
      [batch.exampleIds[0]],
      [batch.exampleIds[1]],
    ]);
  });
});
