import { describe, expect, it } from 'vitest';
import { supervisedCrossEntropy } from './supervised-cross-entropy.js';

describe('supervisedCrossEntropy', () => {
  it('averages −log p over positions whose next token is supervised', () => {
    const logProbs = Float32Array.from([-0.5, -1.5, -2, -4, Number.NaN]);
    // tokens 2 and 3 supervised → positions 1 and 2: (1.5 + 2) / 2.
    expect(supervisedCrossEntropy(logProbs, Uint8Array.from([1, 0, 1, 1, 0]))).toBeCloseTo(1.75, 6);
    expect(supervisedCrossEntropy(logProbs, Uint8Array.from([0, 1, 1, 1, 1]))).toBeCloseTo(2, 6);
  });

  it('is NaN when nothing (or only the first token) is supervised', () => {
    expect(
      supervisedCrossEntropy(Float32Array.from([-1, -2, Number.NaN]), Uint8Array.from([1, 0, 0])),
    ).toBeNaN();
    expect(supervisedCrossEntropy(Float32Array.from([Number.NaN]), Uint8Array.from([1]))).toBeNaN();
  });
});
