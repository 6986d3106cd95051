import { describe, expect, it } from 'vitest';
import {
  addSquaredChange,
  meanSquaredDifference,
  mixChecked,
  subtractTwoWithMeanSquare,
  subtractWithMeanSquare,
  TwoModelDeltas,
  weightedSum,
} from './weighted-sum.js';

function sample(length: number, seed: number): Float32Array {
  let state = seed >>> 0 || 1;
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    const u = (state >>> 0) / 4294967296;
    // Signed zeros and exact cancellations among ordinary values.
    out[i] = u < 0.05 ? 0 : u < 0.1 ? -0 : u < 0.15 ? 0.5 : u < 0.2 ? -0.5 : (u - 0.5) * 3;
  }
  return out;
}

const bits = (values: Float32Array) => new Uint32Array(values.buffer, values.byteOffset, values.length);

describe('mixChecked', () => {
  for (const count of [1, 2, 3, 4]) {
    it(`matches weightedSum bit for bit with ${count} arrays (signed zeros, zero coefficients)`, () => {
      const length = 40_000; // more than one weightedSum block
      const arrays = Array.from({ length: count }, (_, j) => sample(length, 11 + j));
      for (const coefficients of [
        [0.25, 0.75, -1.5, 2],
        [0, 1, 0.5, 0],
        [-0.3, 0, 0.7, 1e-3],
      ]) {
        const used = coefficients.slice(0, count);
        const expected = weightedSum(new Float32Array(length), arrays, used);
        const out = new Float32Array(length);
        expect(mixChecked(out, arrays, used)).toBe(true);
        expect(bits(out)).toEqual(bits(expected));
        // In place into the first array, as linear does.
        const copies = arrays.map((array) => array.slice());
        expect(mixChecked(copies[0]!, copies, used)).toBe(true);
        expect(bits(copies[0]!)).toEqual(bits(expected));
      }
    });
  }

  it('keeps zero coefficients when asked (0 · ∞ is NaN, as the plain sum)', () => {
    const a = new Float32Array([1, Number.POSITIVE_INFINITY]);
    const b = new Float32Array([2, 3]);
    expect(mixChecked(new Float32Array(2), [a, b], [0, 1])).toBe(true);
    expect(mixChecked(new Float32Array(2), [a, b], [0, 1], true)).toBe(false);
  });

  it('reports values that overflow float32 or are NaN', () => {
    const big = new Float32Array([3e38, 1]);
    expect(mixChecked(new Float32Array(2), [big, big], [1, 1])).toBe(false);
    expect(mixChecked(new Float32Array(2), [big, big], [0.5, 0.5])).toBe(true);
    const nan = new Float32Array([1, Number.NaN, 2]);
    expect(mixChecked(new Float32Array(3), [nan, nan, nan], [1, 1, 1])).toBe(false);
  });
});

describe('addSquaredChange', () => {
  it('over consecutive ranges equals meanSquaredDifference exactly (float64 reference order)', () => {
    const length = 10_001;
    const base = sample(length, 1);
    for (const count of [1, 2, 3]) {
      const models = Array.from({ length: count }, (_, j) => sample(length, 5 + j));
      const sums = new Float64Array(count);
      for (let start = 0; start < length; start += 997) {
        addSquaredChange(sums, models, base, start, Math.min(length, start + 997));
      }
      models.forEach((model, j) => {
        expect(sums[j]! / length).toBe(meanSquaredDifference(model, base));
        // Independent float64 reference.
        let reference = 0;
        for (let i = 0; i < length; i++) reference += (model[i]! - base[i]!) ** 2;
        expect(sums[j]).toBe(reference);
      });
    }
  });
});

describe('subtractTwoWithMeanSquare', () => {
  it('equals two subtractWithMeanSquare calls: deltas, histograms and mean squares', () => {
    for (const length of [0, 1, 7, 30_001]) {
      const base = sample(length, 3);
      const first = sample(length, 4);
      const second = sample(length, 5);
      const expectedHistograms = [new Uint32Array(65536), new Uint32Array(65536)];
      const a = first.slice();
      const b = second.slice();
      const expected = [
        subtractWithMeanSquare(a, base, expectedHistograms[0]),
        subtractWithMeanSquare(b, base, expectedHistograms[1]),
      ];
      const histograms = [new Uint32Array(65536), new Uint32Array(65536)];
      const c = first.slice();
      const d = second.slice();
      expect(subtractTwoWithMeanSquare(c, d, base, histograms[0]!, histograms[1]!)).toEqual(expected);
      expect(bits(c)).toEqual(bits(a));
      expect(bits(d)).toEqual(bits(b));
      expect(histograms).toEqual(expectedHistograms);
      // Piece by piece (odd piece sizes, as the engine's reads arrive): the same.
      const e = first.slice();
      const pieces = new TwoModelDeltas(e, second.slice(), base);
      for (let start = 0; start < length; start += 1237)
        pieces.advance(start, Math.min(length, start + 1237));
      const pieceHistograms = [new Uint32Array(65536), new Uint32Array(65536)];
      expect(pieces.finish(pieceHistograms[0]!, pieceHistograms[1]!)).toEqual(expected);
      expect(bits(e)).toEqual(bits(a));
      expect(pieceHistograms).toEqual(expectedHistograms);
    }
  });
});
