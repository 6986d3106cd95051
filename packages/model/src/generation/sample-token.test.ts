import { createRandom, type Random } from '@fusechat/core';
import { describe, expect, it } from 'vitest';
import { type SamplingOptions, sampleToken } from './sample-token.js';

/** The reference: sort the whole vocabulary (stable, most likely first), cut top-k, then top-p. */
function fullSortSample(logits: ArrayLike<number>, options: SamplingOptions, random: Random): number {
  const temperature = options.temperature ?? 0;
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[best]!) best = i;
  if (temperature === 0) return best;
  const order = Array.from({ length: logits.length }, (_, i) => i).sort((a, b) => logits[b]! - logits[a]!);
  const kept = order.slice(0, Math.max(1, Math.min(options.topK ?? order.length, order.length)));
  const max = logits[best]! / temperature;
  const weights = kept.map((id) => Math.exp(logits[id]! / temperature - max));
  const total = weights.reduce((a, b) => a + b, 0);
  const topP = options.topP ?? 1;
  let count = kept.length;
  if (topP < 1) {
    let cumulative = 0;
    for (let i = 0; i < kept.length; i++) {
      cumulative += weights[i]! / total;
      if (cumulative >= topP) {
        count = i + 1;
        break;
      }
    }
  }
  const nucleusTotal = weights.slice(0, count).reduce((a, b) => a + b, 0);
  let draw = random.float64() * nucleusTotal;
  for (let i = 0; i < count; i++) {
    draw -= weights[i]!;
    if (draw < 0) return kept[i]!;
  }
  return kept[count - 1]!;
}

/** Logits of `vocab` tokens: Gaussian with a few peaks, rounded so that ties occur, some −∞. */
function randomLogits(vocab: number, seed: number, spread: number): Float32Array {
  const random = createRandom(seed);
  const logits = new Float32Array(vocab);
  for (let i = 0; i < vocab; i++) {
    const u = Math.max(random.float64(), 1e-12);
    const gaussian = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random.float64());
    logits[i] = Math.round(gaussian * spread * 8) / 8;
  }
  for (let peak = 0; peak < 5; peak++) logits[Math.floor(random.float64() * vocab)] = spread * 4 + peak / 4;
  logits[Math.floor(random.float64() * vocab)] = Number.NEGATIVE_INFINITY;
  return logits;
}

function sampleBoth(logits: ArrayLike<number>, options: SamplingOptions, draws: number, seed: number) {
  const fast = createRandom(seed);
  const reference = createRandom(seed);
  const mine: number[] = [];
  const expected: number[] = [];
  for (let i = 0; i < draws; i++) {
    mine.push(sampleToken(logits, options, fast));
    expected.push(fullSortSample(logits, options, reference));
  }
  return { mine, expected };
}

describe('sampleToken draws exactly what a full sort of the vocabulary draws', () => {
  const optionSets: SamplingOptions[] = [
    { temperature: 1 },
    { temperature: 0.7, topP: 0.9 },
    { temperature: 1, topP: 0.5 },
    { temperature: 1.3, topP: 0.99 },
    { temperature: 1, topP: 1e-9 },
    { temperature: 0.8, topK: 40 },
    { temperature: 1, topK: 7, topP: 0.6 },
    { temperature: 2, topK: 3000, topP: 0.95 },
    { temperature: 1, topK: 0 },
  ];
  it.each([
    [50, 1, 0.5],
    [3000, 2, 0.5],
    [3000, 3, 3],
    [8000, 4, 1],
  ])('vocabulary %i (seed %i, spread %d)', (vocab, seed, spread) => {
    const logits = randomLogits(vocab, seed, spread);
    for (const [index, options] of optionSets.entries()) {
      const { mine, expected } = sampleBoth(logits, options, 40, seed * 100 + index);
      expect(mine, JSON.stringify(options)).toEqual(expected);
    }
  });

  it('ties (equal logits) and a cut-off that lands exactly on topP', () => {
    // 1000 equal weights: the cumulative share reaches 0.5 exactly at 500 tokens (the sum in id
    // order and in sorted order may round differently there, so the full sort decides).
    const flat = new Float32Array(1000).fill(0.25);
    for (const topP of [0.5, 0.125, 0.3]) {
      const { mine, expected } = sampleBoth(flat, { temperature: 1, topP }, 300, 7);
      expect(mine).toEqual(expected);
      expect(Math.max(...mine)).toBeLessThan(Math.ceil(1000 * topP) + 1);
    }
    const stepped = Float32Array.from({ length: 3000 }, (_, i) => -Math.floor(i / 100));
    const { mine, expected } = sampleBoth(stepped, { temperature: 1, topP: 0.7 }, 300, 8);
    expect(mine).toEqual(expected);
  });

  it('a cut-off within rounding of topP, where summing in id order and sorted order differ', () => {
    // Many small weights before one large one: the id-order and largest-first totals round apart.
    const logits = Float32Array.from({ length: 5000 }, (_, i) => (i === 4999 ? 9 : -((i * 7919) % 13) / 3));
    const sorted = Array.from(logits.keys()).sort((a, b) => logits[b]! - logits[a]!);
    const weights = sorted.map((id) => Math.exp(logits[id]! - 9));
    const total = weights.reduce((a, b) => a + b, 0);
    let inIdOrder = 0;
    for (const value of logits) inIdOrder += Math.exp(value - 9);
    expect(inIdOrder).not.toBe(total);
    let cumulative = 0;
    const cutOffs: number[] = [];
    for (let i = 0; i < 400; i++) {
      cumulative += weights[i]! / total;
      if (i % 37 === 0) cutOffs.push(cumulative);
    }
    for (const topP of cutOffs) {
      const { mine, expected } = sampleBoth(logits, { temperature: 1, topP }, 30, 11);
      expect(mine, `topP ${topP}`).toEqual(expected);
    }
  });
});

describe('sampleToken at extreme temperatures', () => {
  it('a denormal temperature keeps only the argmax (the T → 0 limit), never the least likely token', () => {
    const logits = Float32Array.from([0.5, -3, 7.25, 7, 1]);
    for (const temperature of [Number.MIN_VALUE, 1e-300, 1e-45]) {
      for (let seed = 0; seed < 20; seed++) {
        expect(sampleToken(logits, { temperature }, createRandom(seed))).toBe(2);
        expect(sampleToken(logits, { temperature, topP: 0.5 }, createRandom(seed))).toBe(2);
        expect(sampleToken(logits, { temperature, topK: 3 }, createRandom(seed))).toBe(2);
      }
    }
  });

  it('a huge temperature draws (nearly) uniformly, and a negative or non-finite one is refused', () => {
    const counts = [0, 0, 0, 0];
    const random = createRandom(3);
    for (let i = 0; i < 4000; i++) counts[sampleToken([10, -10, 0, 5], { temperature: 1e30 }, random)]!++;
    for (const count of counts) expect(count).toBeGreaterThan(850);
    for (const temperature of [-1, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => sampleToken([1, 2], { temperature }, createRandom(0))).toThrow(
        expect.objectContaining({ code: 'MODEL_INVALID_SAMPLING' }),
      );
    }
  });
});
