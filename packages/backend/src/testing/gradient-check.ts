// Test helpers (not exported from the package): float64 references and finite differences.
import { createRandom } from '@fusechat/core';
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'vitest';

/** Random float32-representable values, so tfjs and the float64 reference see identical inputs. */
export function randomValues(size: number, seed: number, scale = 1): Float64Array {
  const random = createRandom(seed);
  return Float64Array.from({ length: size }, () => Math.fround(random.normal() * scale));
}

export interface GradientCase {
  /** Shapes of the differentiable inputs. */
  shapes: number[][];
  /** The function under test; returns any tensor (reduced against fixed random weights). */
  compute: (...inputs: tf.Tensor[]) => tf.Tensor;
  /** Independent float64 implementation of `compute`, on flat row-major arrays. */
  reference: (...inputs: Float64Array[]) => Float64Array;
  seed?: number;
  /** Scale of the random inputs. */
  scale?: number;
  /** Relative tolerance of each gradient entry against the largest reference entry. */
  tolerance?: number;
}

/**
 * Checks value and gradient of `compute` against the float64 `reference`: the value directly,
 * the gradient of `Σ wᵢ yᵢ` (fixed random w) against central differences of the reference.
 * Also checks that no tensor outlives the check.
 */
export function expectGradientsMatch(testCase: GradientCase): void {
  const seed = testCase.seed ?? 1;
  const tolerance = testCase.tolerance ?? 2e-3;
  const inputs = testCase.shapes.map((shape, i) =>
    randomValues(
      shape.reduce((a, b) => a * b, 1),
      seed * 100 + i,
      testCase.scale,
    ),
  );
  const expectedValue = testCase.reference(...inputs);
  const outputWeights = randomValues(expectedValue.length, seed * 100 + 99);
  const weightedReference = (...arrays: Float64Array[]) => {
    const y = testCase.reference(...arrays);
    let total = 0;
    for (let i = 0; i < y.length; i++) total += y[i]! * outputWeights[i]!;
    return total;
  };

  const before = tf.memory().numTensors;
  const tensors = inputs.map((values, i) => tf.tensor(Float32Array.from(values), testCase.shapes[i]));
  const weights = tf.tensor(Float32Array.from(outputWeights));
  const value = tf.tidy(() => testCase.compute(...tensors));
  const { value: loss, grads } = tf.valueAndGrads((...xs: tf.Tensor[]) =>
    tf.sum(tf.mul(tf.reshape(testCase.compute(...xs), [-1]), weights)),
  )(tensors);
  const actualValue = value.dataSync();
  const actualLoss = loss.dataSync()[0]!;
  const actualGrads = grads.map((grad) => grad.dataSync());
  expect(value.shape.reduce((a, b) => a * b, 1)).toBe(expectedValue.length);
  tf.dispose([value, loss, weights, ...grads, ...tensors]);
  expect(tf.memory().numTensors).toBe(before);

  expectClose(actualValue, expectedValue, 1e-4, 'value');
  expect(actualLoss).toBeCloseTo(weightedReference(...inputs), 2);
  inputs.forEach((input, which) => {
    const numeric = new Float64Array(input.length);
    for (let i = 0; i < input.length; i++) {
      const h = 1e-6 * Math.max(1, Math.abs(input[i]!));
      const original = input[i]!;
      input[i] = original + h;
      const plus = weightedReference(...inputs);
      input[i] = original - h;
      const minus = weightedReference(...inputs);
      input[i] = original;
      numeric[i] = (plus - minus) / (2 * h);
    }
    expectClose(actualGrads[which]!, numeric, tolerance, `gradient of input ${which}`);
  });
}

/** Every entry within `tolerance · max(1, max|expected|)`. */
export function expectClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tolerance: number,
  label: string,
): void {
  expect(actual.length, `${label}: length`).toBe(expected.length);
  let scale = 1;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]!));
  let worst = 0;
  let worstIndex = -1;
  for (let i = 0; i < expected.length; i++) {
    const error = Math.abs(actual[i]! - expected[i]!);
    if (!(error <= worst)) {
      worst = error;
      worstIndex = i;
    }
  }
  expect(
    worst,
    `${label}: worst error at ${worstIndex}: ${actual[worstIndex]} vs ${expected[worstIndex]}`,
  ).toBeLessThanOrEqual(tolerance * scale);
}

/** Float64 batched matMul on row-major arrays: [batch, m, k] · [batch, k, n] with optional transposes. */
export function referenceBatchMatMul(
  a: Float64Array,
  b: Float64Array,
  batch: number,
  m: number,
  k: number,
  n: number,
  transposeA = false,
  transposeB = false,
): Float64Array {
  const out = new Float64Array(batch * m * n);
  for (let p = 0; p < batch; p++)
    for (let i = 0; i < m; i++)
      for (let j = 0; j < n; j++) {
        let total = 0;
        for (let r = 0; r < k; r++) {
          const left = transposeA ? a[p * k * m + r * m + i]! : a[p * m * k + i * k + r]!;
          const right = transposeB ? b[p * n * k + j * k + r]! : b[p * k * n + r * n + j]!;
          total += left * right;
        }
        out[p * m * n + i * n + j] = total;
      }
  return out;
}
