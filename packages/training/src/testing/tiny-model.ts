// Test fixture: a tiny seeded Qwen2-shaped model (q/k/v biases, so weight-decay grouping has
// biases and norms to leave out) and deterministic token data for it.
import { createRandom } from '@fusechat/core';
import { type CausalLM, createModel } from '@fusechat/model';
import type { ArrayExample } from './array-dataset.js';

export const TINY_VOCAB = 96;

/** A 1-layer Qwen2 with hidden size 16; the same weights for the same seed. */
export function tinyModel(seed = 1): CausalLM {
  return createModel(
    {
      modelType: 'qwen2',
      vocabSize: TINY_VOCAB,
      hiddenSize: 16,
      intermediateSize: 32,
      numHiddenLayers: 1,
      numAttentionHeads: 2,
      numKeyValueHeads: 1,
      initializerRange: 0.2,
      eosTokenId: 1,
    },
    { seed },
  );
}

/**
 * `count` examples of lengths 4–11 with the first 1–3 tokens unsupervised (a "prompt"), so
 * batches differ in supervised positions; optionally with sparse k = 3 teacher targets per
 * position.
 */
export function tinyExamples(
  count: number,
  options: { seed?: number; targets?: boolean } = {},
): ArrayExample[] {
  const random = createRandom(options.seed ?? 7);
  return Array.from({ length: count }, () => {
    const length = 4 + random.int(8);
    const inputIds = Array.from({ length }, () => 2 + random.int(TINY_VOCAB - 2));
    const prompt = 1 + random.int(3);
    const labels = inputIds.map((id, t) => (t < prompt ? -100 : id));
    if (!options.targets) return { inputIds, labels };
    const ids = inputIds.map(() => {
      const first = random.int(TINY_VOCAB);
      return [first, (first + 1 + random.int(10)) % TINY_VOCAB, (first + 20 + random.int(10)) % TINY_VOCAB];
    });
    const logits = inputIds.map(() => [2 + random.normal(), random.normal(), random.normal() - 1]);
    return { inputIds, labels, targets: { ids, logits } };
  });
}
