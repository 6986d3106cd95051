import { describe, expect, it } from 'vitest';
import { planLengthBatches } from './plan-length-batches.js';

describe('planLengthBatches', () => {
  it('sorts longest first, keeps rows × longest within the budget, ties in input order', () => {
    expect(planLengthBatches([3, 9, 4, 8], { batchTokens: 15 })).toEqual([
      { indices: [1], time: 9 },
      { indices: [3], time: 8 },
      { indices: [2, 0], time: 4 },
    ]);
    expect(planLengthBatches([2, 2, 2, 2, 2], { batchTokens: 6 })).toEqual([
      { indices: [0, 1, 2], time: 2 },
      { indices: [3, 4], time: 2 },
    ]);
  });

  it('gives an over-long sequence a batch of its own and honours maxRows', () => {
    expect(planLengthBatches([50, 1, 1], { batchTokens: 8 })).toEqual([
      { indices: [0], time: 50 },
      { indices: [1, 2], time: 1 },
    ]);
    expect(planLengthBatches([1, 1, 1], { batchTokens: 100, maxRows: 2 }).map((b) => b.indices)).toEqual([
      [0, 1],
      [2],
    ]);
    expect(planLengthBatches([], { batchTokens: 8 })).toEqual([]);
  });

  it('covers every index exactly once and never exceeds the budget with two or more rows', () => {
    const lengths = Array.from({ length: 200 }, (_, i) => 1 + ((i * 7919) % 97));
    const batches = planLengthBatches(lengths, { batchTokens: 300 });
    expect(batches.flatMap((b) => b.indices).sort((a, b) => a - b)).toEqual(lengths.map((_, i) => i));
    for (const batch of batches) {
      expect(batch.time).toBe(Math.max(...batch.indices.map((i) => lengths[i]!)));
      if (batch.indices.length > 1) expect(batch.indices.length * batch.time).toBeLessThanOrEqual(300);
    }
  });
});
