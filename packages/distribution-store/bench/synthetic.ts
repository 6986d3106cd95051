// Realistic synthetic capture records for the bench (and the large-vocabulary tests).
//
// - Token frequencies follow Zipf (s = 1.05) over ranks; rank r maps to an id in the same power-of-two
//   bucket [2^j, 2^(j+1)) through a fixed permutation, so frequent tokens have small ids as in BPE
//   vocabularies (merge order follows frequency), without being exactly sorted.
// - Each row's k ids are k distinct Zipf draws. Its logits are Gumbel-like order statistics: the top
//   logit ~ N(14, 3²); gap i (between entries i and i+1) ~ Exp(mean β/i) with β = 1.6, the spacing of
//   the largest samples of a Gumbel; 35% of rows are "confident", with a first gap ~ Exp(mean 5).
// - The next input token is drawn from the row's softmax with probability 0.75, else from Zipf, so the
//   teacher's top-1 is often the next token, as for a real teacher on in-distribution text.
// - Lengths ~ log-normal around 520 tokens, clipped to [16, 2048]; chat-like label masks (a prompt,
//   then alternating assistant / user turns).
import type { CaptureRecord } from '@fusechat/core';
import { createRandom, type Random } from '@fusechat/core';

export interface SyntheticOptions {
  vocabSize: number;
  k: number;
  seed?: number;
  meanLength?: number;
  maxLength?: number;
  nextTokenLogProbs?: boolean;
  /** Entries per row drawn uniformly in [1, k] instead of always k (an aligned store). */
  variableCounts?: boolean;
}

export function createSyntheticSource(options: SyntheticOptions): {
  record(index: number): CaptureRecord;
} {
  const { vocabSize, k } = options;
  const rng = createRandom(options.seed ?? 1);
  const rankToId = new Int32Array(vocabSize);
  for (let start = 0; start < vocabSize; start = start === 0 ? 1 : start * 2) {
    const end = Math.min(vocabSize, start === 0 ? 1 : start * 2);
    const bucket = Array.from({ length: end - start }, (_, i) => start + i);
    rng.shuffle(bucket);
    for (let i = 0; i < bucket.length; i++) rankToId[start + i] = bucket[i]!;
  }
  // Inverse-CDF table of Zipf(s) over ranks.
  const s = 1.05;
  const cdf = new Float64Array(vocabSize);
  let total = 0;
  for (let r = 0; r < vocabSize; r++) {
    total += 1 / (r + 1) ** s;
    cdf[r] = total;
  }
  for (let r = 0; r < vocabSize; r++) cdf[r]! /= total;
  const zipf = (random: Random) => {
    const u = random.float64();
    let lo = 0;
    let hi = vocabSize - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cdf[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    return rankToId[lo]!;
  };
  const exponential = (random: Random, mean: number) => -Math.log(1 - random.float64()) * mean;

  return {
    record(index: number): CaptureRecord {
      const random = rng.fork(index);
      const meanLength = options.meanLength ?? 520;
      const maxLength = options.maxLength ?? 2048;
      const length = Math.max(
        16,
        Math.min(maxLength, Math.round(meanLength * Math.exp(0.6 * random.normal() - 0.18))),
      );
      const inputIds = new Int32Array(length);
      const labelMask = new Uint8Array(length);
      const ids = new Int32Array(length * k).fill(-1);
      const logits = new Float32Array(length * k).fill(Number.NEGATIVE_INFINITY);
      const nextTokenLogProbs = options.nextTokenLogProbs ? new Float32Array(length) : undefined;
      inputIds[0] = zipf(random);
      let supervised = 0;
      let turnLeft = Math.round(length * (0.2 + 0.2 * random.float()));
      let ceSum = 0;
      let ceCount = 0;
      const row = new Float64Array(k);
      const rowIds = new Int32Array(k);
      for (let t = 0; t < length; t++) {
        if (turnLeft-- <= 0) {
          supervised ^= 1;
          turnLeft = Math.round(40 + exponential(random, supervised ? 150 : 60));
        }
        labelMask[t] = supervised;
        const count = options.variableCounts ? 1 + random.int(k) : k;
        let filled = 0;
        while (filled < count) {
          const id = zipf(random);
          let duplicate = false;
          for (let j = 0; j < filled; j++) if (rowIds[j] === id) duplicate = true;
          if (!duplicate) rowIds[filled++] = id;
        }
        row[0] = 14 + 3 * random.normal();
        const confident = random.float() < 0.35;
        for (let i = 1; i < count; i++)
          row[i] =
            row[i - 1]! - (i === 1 && confident ? exponential(random, 5) : exponential(random, 1.6 / i));
        let logSum = 0;
        for (let i = 0; i < count; i++) logSum += Math.exp(row[i]! - row[0]!);
        const logNormaliser = row[0]! + Math.log(logSum) + 0.15;
        for (let i = 0; i < count; i++) {
          ids[t * k + i] = rowIds[i]!;
          logits[t * k + i] = row[i]!;
        }
        let next: number;
        let nextLogProb: number;
        if (random.float() < 0.75) {
          let u = random.float() * logSum;
          let pick = 0;
          for (; pick < count - 1; pick++) {
            u -= Math.exp(row[pick]! - row[0]!);
            if (u <= 0) break;
          }
          next = rowIds[pick]!;
          nextLogProb = row[pick]! - logNormaliser;
        } else {
          next = zipf(random);
          nextLogProb = -8 - 10 * random.float();
        }
        if (t + 1 < length) {
          inputIds[t + 1] = next;
          if (nextTokenLogProbs) nextTokenLogProbs[t] = nextLogProb;
        } else if (nextTokenLogProbs) nextTokenLogProbs[t] = Number.NaN;
        // labelMask[t + 1] is set on the next iteration; count CE against the current turn state.
        if (t + 1 < length && supervised) {
          ceSum -= nextLogProb;
          ceCount++;
        }
      }
      return {
        id: `example-${index}`,
        inputIds,
        labelMask,
        topK: { length, k, ids, logits },
        ce: ceCount > 0 ? ceSum / ceCount : Number.NaN,
        nextTokenLogProbs,
      };
    },
  };
}
