import { isFuseChatError } from '@fusechat/core';
import { describe, expect, it } from 'vitest';
import { DEFAULT_BATCH_SIZE, planBatches } from './plan-batches.js';

describe('planBatches', () => {
  it('sorts by length (ties by index) and cuts by batchSize', () => {
    const plan = planBatches([5, 48, 7, 47, 5], { batchSize: 2 });
    expect(plan.batches).toEqual([[0, 4], [2, 3], [1]]);
    // Hand count: 2·5 + 2·47 + 1·48 = 152 padded for 112 real tokens.
    expect(plan.padding).toEqual({ tokens: 112, paddedTokens: 152, paddingWaste: 40 / 112 });
  });

  it('closes a batch before it would exceed batchTokens; a long example stands alone', () => {
    expect(planBatches([4, 4, 4, 5, 30], { batchTokens: 12 }).batches).toEqual([[0, 1, 2], [3], [4]]);
    expect(planBatches([4, 4, 4, 5], { batchTokens: 12, batchSize: 2 }).batches).toEqual([
      [0, 1],
      [2, 3],
    ]);
    expect(planBatches(Array.from({ length: 20 }, () => 3)).batches[0]).toHaveLength(DEFAULT_BATCH_SIZE);
  });

  it('shuffles the batch order per (epoch, seed), deterministically', () => {
    const plan = planBatches(
      Array.from({ length: 64 }, (_, i) => 1 + (i % 13)),
      { batchSize: 4 },
    );
    expect([...plan.order(0, 1)].sort((a, b) => a - b)).toEqual(plan.batches.map((_, i) => i));
    expect(plan.order(3, 9)).toEqual(plan.order(3, 9));
    expect(plan.order(0, 1)).not.toEqual(plan.order(1, 1));
    expect(plan.order(0, 1)).not.toEqual(plan.order(0, 2));
  });

  it('refuses bad options and empty data', () => {
    for (const options of [{ batchSize: 0 }, { batchSize: 1.5 }, { batchTokens: -1 }]) {
      expect(() => planBatches([1], options)).toThrow(
        expect.objectContaining({ code: 'TRAIN_INVALID_OPTIONS' }),
      );
    }
    let thrown: unknown;
    try {
      planBatches([]);
    } catch (error) {
      thrown = error;
    }
    expect(isFuseChatError(thrown, 'TRAIN_INVALID_OPTIONS')).toBe(true);
  });
});
