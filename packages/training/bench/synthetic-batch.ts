// The training benchmarks' batches: full rows of seeded random tokens (no padding), the first
// `prompt` positions of each unsupervised, and optionally k fused targets per position.
import type { TrainingBatch } from '../src/training-batch.js';

function xorshift(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 4294967296;
  };
}

/** `rows × time` tokens below `vocabSize` from seed 7; targets when `k > 0` (random ids, logits in [0, 4)). */
export function syntheticBatch(shape: {
  rows: number;
  time: number;
  prompt: number;
  vocabSize: number;
  k: number;
}): TrainingBatch {
  const { rows, time, prompt, vocabSize, k } = shape;
  const random = xorshift(7);
  const inputIds = Array.from({ length: rows }, () =>
    Array.from({ length: time }, () => Math.floor(random() * vocabSize)),
  );
  const labels = inputIds.map((row) => row.map((id, t) => (t < prompt ? -100 : id)));
  let targets: TrainingBatch['targets'];
  if (k > 0) {
    const ids = new Int32Array(rows * time * k);
    const logits = new Float32Array(rows * time * k);
    for (let i = 0; i < ids.length; i++) {
      ids[i] = Math.floor(random() * vocabSize);
      logits[i] = 4 * random();
    }
    targets = { shape: [rows, time, k], ids, logits };
  }
  return {
    exampleIds: inputIds.map((_, i) => String(i)),
    inputIds,
    attentionMask: inputIds.map((row) => row.map(() => 1)),
    labels,
    targets,
    // Position t − 1 predicts label t; position 0's label is never a target.
    supervisedPositions: rows * (time - Math.max(1, prompt)),
    tokens: rows * time,
    paddedTokens: rows * time,
  };
}
