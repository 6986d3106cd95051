import { createRandom } from '@fusechat/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { topKMask } from '../../kernels/top-k.js';
import { allocateKernelArrays, releaseKernelArrays } from '../../kernels/wasm/kernel-arena.js';
import { sce } from './sce.js';

/**
 * The previous two-model SCE (before the fused passes), kept as the reference: deltas, then the
 * variance mask via topKMask, masked sums of squares, and the erase loop.
 */
function previousSceTwo(
  base: Float32Array,
  first: Float32Array,
  second: Float32Array,
  selectTopk: number,
  variant: 'mergekit' | 'fusechat',
): { tensor: Float32Array; weights: number[]; changeMeanSquare: number[] } {
  const length = base.length;
  const changeMeanSquare = [first, second].map((target) => {
    let sum = 0;
    for (let i = 0; i < length; i++) {
      const d = target[i]! - base[i]!;
      sum += d * d;
      target[i] = d;
    }
    return length === 0 ? 0 : sum / length;
  });
  let mask: Uint8Array | undefined;
  if (selectTopk < 1) {
    const variance = new Float32Array(length);
    for (let i = 0; i < length; i++) {
      const a = first[i]!;
      const b = second[i]!;
      const mean = (a + b) / 2;
      variance[i] = ((a - mean) * (a - mean) + (b - mean) * (b - mean)) / 2;
    }
    let nonzero = 0;
    for (let i = 0; i < length; i++) if (variance[i] !== 0) nonzero++;
    mask = topKMask(variance, Math.floor(nonzero * selectTopk));
  }
  const sums = [first, second].map((delta) => {
    let sum = 0;
    if (mask === undefined) for (let i = 0; i < length; i++) sum += delta[i]! * delta[i]!;
    else for (let i = 0; i < length; i++) sum += mask[i]! * delta[i]! * delta[i]!;
    return length === 0 ? 0 : sum / length;
  });
  const total = sums.reduce((a, b) => a + b, 0);
  const weights = sums.map((value) => (total > 0 ? value / total : 1 / 2));
  const zeroMask = mask !== undefined && variant === 'mergekit' ? mask : undefined;
  const firstBits = new Uint32Array(first.buffer, first.byteOffset, length);
  const secondBits = new Uint32Array(second.buffer, second.byteOffset, length);
  const rounded = new Float32Array(1);
  const roundedBits = new Uint32Array(rounded.buffer);
  const [firstWeight, secondWeight] = weights as [number, number];
  for (let i = 0; i < length; i++) {
    const selected = zeroMask === undefined ? 1 : zeroMask[i]!;
    const a = selected * first[i]!;
    const b = selected * second[i]!;
    rounded[0] = a + b;
    const majority = roundedBits[0]! >>> 31;
    const u = firstBits[i]!;
    const v = secondBits[i]!;
    const keepA = selected & (1 - (((u >>> 31) ^ majority) | (((u & 0x7fffffff) - 1) >>> 31)));
    const keepB = selected & (1 - (((v >>> 31) ^ majority) | (((v & 0x7fffffff) - 1) >>> 31)));
    const mixed = keepA * firstWeight * a + keepB * secondWeight * b;
    let value = mixed / (keepA * firstWeight + keepB * secondWeight + ((keepA + keepB - 1) >>> 31));
    if (value - value !== 0) value = 0;
    base[i] = base[i]! + value;
  }
  return { tensor: base, weights, changeMeanSquare };
}

const bitsOf = (values: Float32Array) => [
  ...new Uint32Array(values.buffer, values.byteOffset, values.length),
];

// Few distinct values (ties in the variance ranking, zero variances, signed zeros) and ordinary floats.
const element = fc.oneof(
  fc.constantFrom(0, -0, 1, -1, 0.5, -0.5, 2, 0.25, 3),
  fc.float({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 }),
);

/** Copies into one KernelArena (with a scratch for the variances): the WebAssembly loops run. */
function inArena(base: Float32Array, first: Float32Array, second: Float32Array) {
  const n = base.length;
  // Ranges of 64 bytes and more are split with the helper thread too.
  const arrays = allocateKernelArrays([n + 1, n + 1, n + 1], {
    scratchElements: n,
    helperThread: true,
    splitMinBytes: 64,
  })!;
  // Element offset 1: views that start off a 16-byte boundary.
  return [base, first, second].map((source, j) => {
    const view = arrays[j]!.subarray(1);
    view.set(source);
    return view;
  }) as [Float32Array, Float32Array, Float32Array];
}

describe('sce with two models (fused passes)', () => {
  for (const [label, place] of [
    ['', (b: Float32Array, f: Float32Array, s: Float32Array) => [b, f, s] as const],
    [' (arrays in a KernelArena: WebAssembly)', inArena],
  ] as const)
    it(`is bit-identical to the previous two-model implementation${label}`, () => {
      fc.assert(
        fc.property(
          fc.array(fc.tuple(element, element, element), { minLength: 1, maxLength: 200 }),
          fc.oneof(fc.constantFrom(1, 0.1, 0.5, 0.01, 0), fc.double({ min: 0, max: 1, noNaN: true })),
          fc.constantFrom('mergekit', 'fusechat'),
          (rows, selectTopk, variant) => {
            const [base, first, second] = place(
              Float32Array.from(rows.map((row) => row[0])),
              Float32Array.from(rows.map((row) => row[1])),
              Float32Array.from(rows.map((row) => row[2])),
            );
            const expected = previousSceTwo(base.slice(), first.slice(), second.slice(), selectTopk, variant);
            const parameters = sce.parseParameters({ select_topk: selectTopk, sce_variant: variant });
            // The method works in place on the inputs (the engine's buffers): they are used as given.
            const result = sce.merge({
              tensorName: 'model.layers.0.mlp.up_proj.weight',
              shape: [base.length],
              base,
              models: [first, second].map((tensor, j) => ({
                model: `m${j}`,
                tensor,
                parameters: sce.parsePerModelParameters({}),
              })),
              parameters,
              random: createRandom(0),
            });
            const actual = result instanceof Float32Array ? { tensor: result } : result;
            expect(bitsOf(actual.tensor)).toEqual(bitsOf(expected.tensor));
            expect(actual.weights).toEqual(expected.weights);
            expect(actual.changeMeanSquare).toEqual(expected.changeMeanSquare);
            releaseKernelArrays(base);
          },
        ),
        { numRuns: 400 },
      );
    });
});
