// Small deterministic records and identities for the tests (not exported from the package).
import type { CaptureRecord } from '@fusechat/core';
import { createRandom } from '@fusechat/core';
import type { StoreIdentity } from '../store-identity.js';

export function testIdentity(overrides: Partial<StoreIdentity> = {}, vocabSize = 1000): StoreIdentity {
  return {
    model: { name: 'tiny-llama', configHash: 'c'.repeat(64) },
    tokenizer: { hash: 't'.repeat(64), vocabSize },
    data: { hash: 'd'.repeat(64) },
    chatTemplateHash: null,
    capture: { k: 4, maxLength: 64, truncation: 'keep-first', valueKind: 'logits' },
    ...overrides,
  };
}

/** A record of `length` positions with sorted rows; `counts` gives per-row entry counts (default k). */
export function testRecord(
  index: number,
  options: {
    length?: number;
    k?: number;
    vocabSize?: number;
    nextTokenLogProbs?: boolean;
    variableCounts?: boolean;
  } = {},
): CaptureRecord {
  const random = createRandom(1000 + index);
  const k = options.k ?? 4;
  const vocabSize = options.vocabSize ?? 1000;
  const length = options.length ?? 3 + random.int(20);
  const inputIds = new Int32Array(length);
  const labelMask = new Uint8Array(length);
  const ids = new Int32Array(length * k).fill(-1);
  const logits = new Float32Array(length * k).fill(Number.NEGATIVE_INFINITY);
  for (let t = 0; t < length; t++) {
    inputIds[t] = random.int(vocabSize);
    labelMask[t] = t > length / 3 ? 1 : 0;
    const count = options.variableCounts ? random.int(k + 1) : k;
    let value = 10 * random.normal();
    const used = new Set<number>();
    for (let slot = 0; slot < count; slot++) {
      let id = random.int(vocabSize);
      while (used.has(id)) id = random.int(vocabSize);
      used.add(id);
      // Half the time the next token is the previous row's top-1, to exercise the slot coding.
      ids[t * k + slot] = id;
      logits[t * k + slot] = value;
      value -= Math.abs(random.normal()) * 2;
    }
    if (t > 0 && random.float() < 0.5 && ids[(t - 1) * k] !== -1) inputIds[t] = ids[(t - 1) * k]!;
  }
  const nextTokenLogProbs = options.nextTokenLogProbs
    ? Float32Array.from({ length }, (_, t) => (t + 1 < length ? -Math.abs(random.normal()) * 3 : Number.NaN))
    : undefined;
  return {
    id: `example-${index}`,
    inputIds,
    labelMask,
    topK: { length, k, ids, logits },
    ce: 1 + random.float(),
    ...(nextTokenLogProbs ? { nextTokenLogProbs } : {}),
  };
}
