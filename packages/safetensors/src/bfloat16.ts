import { checkConversionLength } from './float16.js';

/**
 * Decodes bfloat16 bit patterns to float32 (exact: bfloat16 is the top half of a float32).
 *
 * @param bits - raw bfloat16 patterns, e.g. from `readTensor` on a BF16 tensor.
 * @param out - optional destination of the same length.
 * @example
 * ```ts
 * bfloat16ToFloat32(new Uint16Array([0x3f80, 0xc000])); // Float32Array [1, -2]
 * ```
 */
export function bfloat16ToFloat32(bits: Uint16Array, out?: Float32Array): Float32Array {
  const result = out ?? new Float32Array(bits.length);
  checkConversionLength(bits.length, result.length);
  const target = new Uint32Array(result.buffer, result.byteOffset, result.length);
  const n = bits.length;
  for (let i = 0; i < n; i++) target[i] = bits[i]! << 16;
  return result;
}

/**
 * Rounds float32 values to bfloat16 bit patterns, round-to-nearest-even (as PyTorch does):
 * overflow goes to ±Infinity, NaN stays a quiet NaN, subnormals round like any other value.
 *
 * @param x - values to convert.
 * @param out - optional destination of the same length.
 * @example
 * ```ts
 * float32ToBfloat16(new Float32Array([1, -2, 1.00390625])); // Uint16Array [0x3f80, 0xc000, 0x3f80]
 * ```
 */
export function float32ToBfloat16(x: Float32Array, out?: Uint16Array): Uint16Array {
  const result = out ?? new Uint16Array(x.length);
  checkConversionLength(x.length, result.length);
  const source = new Uint32Array(x.buffer, x.byteOffset, x.length);
  const n = x.length;
  for (let i = 0; i < n; i++) {
    const bits = source[i]!;
    if ((bits & 0x7fffffff) > 0x7f800000) {
      result[i] = (bits >>> 16) | 0x40; // NaN: truncate and force quiet so it cannot become Inf
    } else {
      result[i] = (bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16;
    }
  }
  return result;
}
