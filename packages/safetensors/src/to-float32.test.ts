import { isFuseChatError } from '@fusechat/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromFloat32, toFloat32 } from './to-float32.js';

describe('toFloat32', () => {
  it('returns F32 data without copying and decodes F16/BF16', () => {
    const data = new Float32Array([1, 2]);
    expect(toFloat32({ dtype: 'F32', shape: [2], data })).toBe(data);
    expect([...toFloat32({ dtype: 'F16', shape: [2], data: new Uint16Array([0x3c00, 0xc400]) })]).toEqual([
      1, -4,
    ]);
    expect([...toFloat32({ dtype: 'BF16', shape: [2], data: new Uint16Array([0x4040, 0x3f00]) })]).toEqual([
      3, 0.5,
    ]);
  });

  it('converts integers, including I64 beyond 2^32 and negative', () => {
    const i64 = new BigInt64Array([-1n, 2n ** 40n + 3n, -(2n ** 40n), 0n, 2n ** 62n]);
    expect([...toFloat32({ dtype: 'I64', shape: [5], data: i64 })]).toEqual([
      -1,
      Math.fround(2 ** 40 + 3),
      -(2 ** 40),
      0,
      2 ** 62,
    ]);
    expect([...toFloat32({ dtype: 'I8', shape: [2], data: new Int8Array([-128, 127]) })]).toEqual([
      -128, 127,
    ]);
    expect([...toFloat32({ dtype: 'U8', shape: [1], data: new Uint8Array([255]) })]).toEqual([255]);
    expect([...toFloat32({ dtype: 'BOOL', shape: [2], data: new Uint8Array([0, 1]) })]).toEqual([0, 1]);
    expect([...toFloat32({ dtype: 'F64', shape: [1], data: new Float64Array([0.1]) })]).toEqual([
      Math.fround(0.1),
    ]);
  });

  it('matches Number(bigint) for any I64 within ±2^53 (property)', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(2n ** 53n), max: 2n ** 53n }), (value) => {
        const out = toFloat32({ dtype: 'I64', shape: [1], data: new BigInt64Array([value]) });
        expect(out[0]).toBe(Math.fround(Number(value)));
      }),
    );
  });

  it('rejects data of the wrong array type', () => {
    let error: unknown;
    try {
      toFloat32({ dtype: 'F16', shape: [1], data: new Float32Array(1) });
    } catch (e) {
      error = e;
    }
    expect(isFuseChatError(error, 'SAFETENSORS_DTYPE_MISMATCH')).toBe(true);
  });
});

describe('fromFloat32', () => {
  it('returns F32 as is and rounds to the other dtypes', () => {
    const x = new Float32Array([1.5, -2.5, 0.49999997]);
    expect(fromFloat32(x, 'F32')).toBe(x);
    expect([...fromFloat32(x, 'I32')]).toEqual([2, -3, 0]); // halves away from zero
    expect([...fromFloat32(x, 'I64')]).toEqual([2n, -3n, 0n]);
    expect([...fromFloat32(x, 'BOOL')]).toEqual([1, 1, 1]);
    expect([...fromFloat32(new Float32Array([0, -0]), 'BOOL')]).toEqual([0, 0]);
    expect([...fromFloat32(x, 'F64')]).toEqual([1.5, -2.5, Math.fround(0.49999997)]);
    expect([...fromFloat32(new Float32Array([1]), 'F16')]).toEqual([0x3c00]);
    expect([...fromFloat32(new Float32Array([1]), 'BF16')]).toEqual([0x3f80]);
  });

  it('refuses NaN and out-of-range integers instead of wrapping', () => {
    for (const [value, dtype] of [
      [Number.NaN, 'I32'],
      [256, 'U8'],
      [-1, 'U8'],
      [128, 'I8'],
      [2 ** 31, 'I32'],
      [2 ** 63, 'I64'],
      [Number.POSITIVE_INFINITY, 'I16'],
    ] as const) {
      let error: unknown;
      try {
        fromFloat32(new Float32Array([value]), dtype);
      } catch (e) {
        error = e;
      }
      expect(isFuseChatError(error, 'SAFETENSORS_INTEGER_OUT_OF_RANGE'), `${value} → ${dtype}`).toBe(true);
    }
    expect([...fromFloat32(new Float32Array([-(2 ** 63)]), 'I64')]).toEqual([-(2n ** 63n)]);
    expect([...fromFloat32(new Float32Array([255.4]), 'U8')]).toEqual([255]);
  });
});
