import { afterEach, describe, expect, it } from 'vitest';
import { createModel } from '../model/create-model.js';
import { useBackend } from '../testing/test-backends.js';
import { ACTIVATION_BUDGET_ENV, checkActivationBudget } from './activation-budget.js';

const config = {
  modelType: 'llama',
  vocabSize: 50,
  hiddenSize: 16,
  intermediateSize: 32,
  numHiddenLayers: 1,
  numAttentionHeads: 2,
  maxPositionEmbeddings: 1_000_000,
} as const;

afterEach(() => {
  delete process.env[ACTIVATION_BUDGET_ENV];
});

describe('the activation budget', () => {
  it('refuses a sequence whose attention would not fit, before allocating, and says how to go lower', async () => {
    await useBackend('cpu');
    const model = createModel(config, { seed: 1 });
    try {
      // 300k tokens: 2 × 4 B × 2 heads × 300k² = 1.4 TB of attention scores.
      const ids = [Array.from({ length: 300_000 }, (_, i) => i % 50)];
      const started = performance.now();
      expect(() => model.forward(ids)).toThrow(
        expect.objectContaining({
          code: 'MODEL_MEMORY_BUDGET',
          message: expect.stringMatching(/--max-length/),
        }),
      );
      expect(() => model.hiddenStates(ids)).toThrow(expect.objectContaining({ code: 'MODEL_MEMORY_BUDGET' }));
      expect(performance.now() - started).toBeLessThan(30_000); // refused, not computed
    } finally {
      model.dispose();
    }
  });

  it('counts attention as batch × heads × queries × keys and logits as rows × vocab, against the env budget', async () => {
    await useBackend('cpu');
    const parsed = createModel(config, { seed: 1 });
    const modelConfig = parsed.config;
    parsed.dispose();
    // attention 2·4·1·2·10·10 = 1600 B, logits 4·10·50 = 2000 B
    process.env[ACTIVATION_BUDGET_ENV] = '3600';
    expect(() =>
      checkActivationBudget(modelConfig, { batch: 1, queryLength: 10, logitsRows: 10 }),
    ).not.toThrow();
    process.env[ACTIVATION_BUDGET_ENV] = '3599';
    expect(() => checkActivationBudget(modelConfig, { batch: 1, queryLength: 10, logitsRows: 10 })).toThrow(
      expect.objectContaining({
        code: 'MODEL_MEMORY_BUDGET',
        details: expect.objectContaining({ attentionBytes: 1600, logitsBytes: 2000 }),
      }),
    );
    // one cached decoding step: 1 query over 1000 keys
    process.env[ACTIVATION_BUDGET_ENV] = String(2 * 4 * 2 * 1000 + 4 * 50);
    expect(() =>
      checkActivationBudget(modelConfig, { batch: 1, queryLength: 1, keyLength: 1000, logitsRows: 1 }),
    ).not.toThrow();
  });
});
