import { InvalidInputError } from '@fusechat/core';

// 65536 float32 bit patterns, one per half; built on first use (256 KB). A table lookup is several
// times faster than decoding the fields and keeps NaN payloads bit-exact.
let halfToFloatBits: Uint32Array | undefined;

function halfTable(): Uint32Array {
  if (halfToFloatBits) return halfToFloatBits;
  const table = new Uint32Array(65536);
  for (let half = 0; half < 65536; half++) {
    const sign = (half & 0x8000) << 16;
    const exponent = (half >>> 10) & 0x1f;
    const mantissa = half & 0x3ff;
    let bits: number;
    if (exponent === 0x1f) {
      bits = sign | 0x7f800000 | (mantissa << 13);
    } else if (exponent !== 0) {
      bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
    } else if (mantissa === 0) {
      bits = sign;
    } else {
      // Subnormal half: renormalise into a float32 normal.
      let shift = 0;
      let m = mantissa;
      while ((m & 0x400) === 0) {
        m <<= 1;
        shift++;
      }
      bits = sign | ((113 - shift) << 23) | ((m & 0x3ff) << 13);
    }
    table[half] = bits >>> 0;
  }
  halfToFloatBits = table;
  return table;
}

/**
 * Decodes IEEE 754 binary16 bit patterns to float32 (exact: every half is a float32; NaN payloads,
 * infinities, signed zeros and subnormals are preserved).
 *
 * @param bits - raw half-precision patterns, e.g. from `readTensor` on an F16 tensor.
 * @param out - optional destination of the same length.
 * @example
 * ```ts
 * float16ToFloat32(new Uint16Array([0x3c00, 0xc000, 0x7c00])); // Float32Array [1, -2, Infinity]
 * ```
 */
export function float16ToFloat32(bits: Uint16Array, out?: Float32Array): Float32Array {
  const result = out ?? new Float32Array(bits.length);
  checkLength(bits.length, result.length);
  const table = halfTable();
  const target = new Uint32Array(result.buffer, result.byteOffset, result.length);
  const n = bits.length;
  let i = 0;
  if (LITTLE_ENDIAN && bits.byteOffset % 4 === 0) {
    // Two halves per 32-bit load: ~30% faster than one 16-bit load per element.
    const words = new Uint32Array(bits.buffer, bits.byteOffset, n >>> 1);
    for (let j = 0; j < words.length; j++, i += 2) {
      const word = words[j]!;
      target[i] = table[word & 0xffff]!;
      target[i + 1] = table[word >>> 16]!;
    }
  }
  for (; i < n; i++) target[i] = table[bits[i]!]!;
  return result;
}

/**
 * Rounds float32 values to IEEE 754 binary16 bit patterns, round-to-nearest-even: values at or
 * beyond 65520 in magnitude become ±Infinity, tiny values become subnormals or ±0, NaN stays a
 * (quiet) NaN.
 *
 * @param x - values to convert.
 * @param out - optional destination of the same length.
 * @example
 * ```ts
 * float32ToFloat16(new Float32Array([1, 65504, 1e-8])); // Uint16Array [0x3c00, 0x7bff, 0x0000]
 * ```
 */
export function float32ToFloat16(x: Float32Array, out?: Uint16Array): Uint16Array {
  const result = out ?? new Uint16Array(x.length);
  checkLength(x.length, result.length);
  const source = new Uint32Array(x.buffer, x.byteOffset, x.length);
  const n = x.length;
  let i = 0;
  if (LITTLE_ENDIAN && result.byteOffset % 4 === 0) {
    // Two halves per 32-bit store: ~20% faster than one 16-bit store per element.
    const words = new Uint32Array(result.buffer, result.byteOffset, n >>> 1);
    for (let j = 0; j < words.length; j++, i += 2)
      words[j] = halfBitsOf(source[i]!) | (halfBitsOf(source[i + 1]!) << 16);
  }
  for (; i < n; i++) result[i] = halfBitsOf(source[i]!);
  return result;
}

/** float32 bit pattern → binary16 bit pattern, round to nearest even. */
function halfBitsOf(bits: number): number {
  const sign = (bits >>> 16) & 0x8000;
  const magnitude = bits & 0x7fffffff;
  if (magnitude < 0x38800000) {
    // Below the smallest normal half (2^-14): a subnormal half or zero.
    const exponent = magnitude >>> 23;
    if (exponent < 102) return sign;
    const mantissa = (magnitude & 0x7fffff) | 0x800000;
    const shift = 126 - exponent; // 14..24
    const halfway = 1 << (shift - 1);
    const remainder = mantissa & ((1 << shift) - 1);
    let half = mantissa >>> shift;
    if (remainder > halfway || (remainder === halfway && (half & 1) === 1)) half++;
    return sign | half;
  }
  if (magnitude < 0x477ff000) {
    // Normal range: rebias the exponent (127 → 15) and round the 13 dropped bits to nearest even;
    // a carry out of the mantissa correctly bumps the exponent.
    const rebased = magnitude - 0x38000000;
    return sign | ((rebased + 0xfff + ((rebased >>> 13) & 1)) >>> 13);
  }
  if (magnitude <= 0x7f800000) return sign | 0x7c00; // overflow (≥ 65520 rounds past 65504) or Infinity
  return sign | 0x7e00 | ((magnitude >>> 13) & 0x3ff); // NaN: keep the top payload bits, force quiet
}

/** Whether this host stores the low 16 bits of a 32-bit word first (packed loops rely on it). */
export const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function checkLength(expected: number, actual: number): void {
  if (expected !== actual)
    throw new InvalidInputError(
      `Output array has ${actual} elements but the input has ${expected}; pass an output of the same length.`,
      { code: 'SAFETENSORS_LENGTH_MISMATCH', field: 'out' },
    );
}

export { checkLength as checkConversionLength };
