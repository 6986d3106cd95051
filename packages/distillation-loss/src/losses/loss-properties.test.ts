import * as tf from '@tensorflow/tfjs-core';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../test/backends.js';
import { clmLoss } from './clm-loss/clm-loss.js';
import { combinedLoss } from './combined-loss/combined-loss.js';
import { fusionLoss } from './fusion-loss/fusion-loss.js';

const B = 2;
const T = 4;
const V = 7;
const K = 3;

const logitsArbitrary = fc.array(fc.float({ min: -20, max: 20, noNaN: true }), {
  minLength: B * T * V,
  maxLength: B * T * V,
});
const labelsArbitrary = fc.array(fc.integer({ min: 0, max: V - 1 }), { minLength: B * T, maxLength: B * T });
const maskArbitrary = fc.array(fc.integer({ min: 0, max: 1 }), { minLength: B * T, maxLength: B * T });
const targetArbitrary = fc.tuple(
  fc.array(fc.integer({ min: -1, max: V - 1 }), { minLength: B * T * K, maxLength: B * T * K }),
  fc.array(fc.float({ min: -10, max: 10, noNaN: true }), { minLength: B * T * K, maxLength: B * T * K }),
);

/** Every row keeps at least one entry (slot 0 is never empty). */
function nonEmpty(ids: number[]): number[] {
  return ids.map((id, index) => (index % K === 0 && id === -1 ? 0 : id));
}

function rows(values: number[], width: number): number[][] {
  return Array.from({ length: values.length / width }, (_, row) =>
    values.slice(row * width, (row + 1) * width),
  );
}

function valueAndGradient(
  f: (x: tf.Tensor) => tf.Scalar,
  logits: number[],
): { value: number; gradient: Float32Array } {
  return tf.tidy(() => {
    const z = tf.tensor3d(logits, [B, T, V]);
    const { value, grad } = tf.valueAndGrad(f)(z);
    return { value: value.dataSync()[0]!, gradient: grad.dataSync() as Float32Array };
  });
}

describe('loss invariants (property tests, cpu)', () => {
  beforeAll(() => useBackend('cpu'));

  it('fusion against a one-hot target on the label is the CLM loss (value and gradient)', () => {
    fc.assert(
      fc.property(logitsArbitrary, labelsArbitrary, maskArbitrary, (logits, labels, mask) => {
        const labelRows = rows(labels, T);
        const maskRows = rows(mask, T);
        // Row t of the target is the distribution for token t + 1.
        const targetIds = tf.tensor3d(
          labelRows.map((row) => row.map((_, t) => [row[Math.min(t + 1, T - 1)]!])),
          [B, T, 1],
          'int32',
        );
        const targetLogits = tf.zeros([B, T, 1]);
        const clm = valueAndGradient((x) => clmLoss(x, labelRows, maskRows), logits);
        const fusion = valueAndGradient((x) => fusionLoss(x, targetIds, targetLogits, maskRows), logits);
        tf.dispose([targetIds, targetLogits]);
        expect(fusion.value).toBeCloseTo(clm.value, 5);
        fusion.gradient.forEach((g, i) => {
          expect(g).toBeCloseTo(clm.gradient[i]!, 6);
        });
      }),
      { numRuns: 25 },
    );
  });

  it('KL is ≥ 0, CE − KL is the mean teacher entropy, and shifting a student row changes nothing', () => {
    fc.assert(
      fc.property(
        logitsArbitrary,
        targetArbitrary,
        fc.float({ min: -50, max: 50, noNaN: true }),
        (logits, [ids, values], shift) => {
          const targetIds = tf.tensor3d(nonEmpty(ids), [B, T, K], 'int32');
          const targetLogits = tf.tensor3d(values, [B, T, K]);
          const mask = [
            [1, 1, 1, 1],
            [0, 1, 0, 1],
          ];
          const ce = valueAndGradient((x) => fusionLoss(x, targetIds, targetLogits, mask), logits).value;
          const kl = valueAndGradient(
            (x) => fusionLoss(x, targetIds, targetLogits, mask, { variant: 'kl' }),
            logits,
          ).value;
          const shifted = logits.map((value, index) => (index < V ? Math.fround(value + shift) : value));
          const ceShifted = valueAndGradient(
            (x) => fusionLoss(x, targetIds, targetLogits, mask),
            shifted,
          ).value;
          tf.dispose([targetIds, targetLogits]);
          expect(kl).toBeGreaterThanOrEqual(-1e-5);
          expect(ce - kl).toBeGreaterThanOrEqual(-1e-5);
          expect(ceShifted).toBeCloseTo(ce, 4);
        },
      ),
      { numRuns: 25 },
    );
  });

  it('combinedLoss is the CLM loss at λ = 1 and the fusion loss at λ = 0', () => {
    fc.assert(
      fc.property(logitsArbitrary, labelsArbitrary, targetArbitrary, (logits, labels, [ids, values]) => {
        const labelRows = rows(labels, T);
        const targetIds = tf.tensor3d(nonEmpty(ids), [B, T, K], 'int32');
        const targetLogits = tf.tensor3d(values, [B, T, K]);
        const batch = { labels: labelRows, targetIds, targetLogits };
        const ones = labelRows.map((row) => row.map(() => 1));
        const atOne = valueAndGradient((x) => combinedLoss(x, batch, { lambda: 1 }), logits);
        const atZero = valueAndGradient((x) => combinedLoss(x, batch, { lambda: 0 }), logits);
        const clm = valueAndGradient((x) => clmLoss(x, labelRows), logits);
        const fusion = valueAndGradient((x) => fusionLoss(x, targetIds, targetLogits, ones), logits);
        tf.dispose([targetIds, targetLogits]);
        expect(atOne.value).toBeCloseTo(clm.value, 5);
        expect(atZero.value).toBeCloseTo(fusion.value, 5);
        atZero.gradient.forEach((g, i) => {
          expect(g).toBeCloseTo(fusion.gradient[i]!, 6);
        });
      }),
      { numRuns: 25 },
    );
  });
});
