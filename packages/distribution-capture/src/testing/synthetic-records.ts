// Synthetic capture records for alignment tests and the align bench: real tokenisations, plausible
// top-k rows (descending logits, the gold next token first most of the time), seeded.
import { type CaptureRecord, createRandom, type TokenizerLike } from '@fusechat/core';

/**
 * One record per text, ids `${prefix}${index}`, `k` entries per row, deterministic under `seed`.
 *
 * @example
 * ```ts
 * const records = syntheticRecords(mistral, ['Call me Ishmael.'], { k: 10, seed: 1 });
 * ```
 */
export function syntheticRecords(
  tokenizer: TokenizerLike,
  texts: readonly string[],
  options: { k: number; seed: number; prefix?: string; goldShare?: number },
): CaptureRecord[] {
  const { k } = options;
  const random = createRandom(options.seed);
  const goldShare = options.goldShare ?? 0.7;
  return texts.map((text, index) => {
    const inputIds = Int32Array.from(tokenizer.encode(text));
    const length = inputIds.length;
    const ids = new Int32Array(length * k);
    const logits = new Float32Array(length * k);
    for (let t = 0; t < length; t++) {
      let value = 4 + random.float() * 4;
      for (let slot = 0; slot < k; slot++) {
        const gold = slot === 0 && t + 1 < length && random.float() < goldShare;
        ids[t * k + slot] = gold ? inputIds[t + 1]! : random.int(tokenizer.vocabSize);
        logits[t * k + slot] = value;
        value -= 0.25 + random.float();
      }
    }
    const labelMask = new Uint8Array(length).fill(1);
    labelMask[0] = 0;
    return {
      id: `${options.prefix ?? 'e'}${index}`,
      inputIds,
      labelMask,
      topK: { length, k, ids, logits },
      ce: 1 + random.float(),
    };
  });
}
