// fp16 (IEEE 754 binary16) conversions and the order-preserving key mapping the value coder uses.
// Kept here rather than imported from @fusechat/safetensors: this package depends on core only.

const floatView = new Float32Array(1);
const bitsView = new Uint32Array(floatView.buffer);

/**
 * Rounds a number to the nearest binary16 (round to nearest even) and returns its bit pattern.
 * Magnitudes at or above 65520 become ±Infinity; NaN becomes the quiet NaN `0x7e00`.
 *
 * @example
 * ```ts
 * float16Bits(1); // 0x3c00
 * float16Bits(-2.5); // 0xc100
 * ```
 */
export function float16Bits(value: number): number {
  floatView[0] = value;
  const bits = bitsView[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const magnitude = bits & 0x7fffffff;
  if (magnitude > 0x7f800000) return 0x7e00;
  if (magnitude < 0x38800000) {
    const exponent = magnitude >>> 23;
    if (exponent < 102) return sign;
    const mantissa = (magnitude & 0x7fffff) | 0x800000;
    const shift = 126 - exponent;
    const halfway = 1 << (shift - 1);
    const remainder = mantissa & ((1 << shift) - 1);
    let half = mantissa >>> shift;
    if (remainder > halfway || (remainder === halfway && (half & 1) === 1)) half++;
    return sign | half;
  }
  if (magnitude < 0x477ff000) {
    const rebased = magnitude - 0x38000000;
    return sign | ((rebased + 0xfff + ((rebased >>> 13) & 1)) >>> 13);
  }
  return sign | 0x7c00;
}

let table: Float32Array | undefined;

/**
 * The value of a binary16 bit pattern (exact: every half is a float32).
 *
 * @example
 * ```ts
 * float16Value(0x3c00); // 1
 * float16Value(0x7c00); // Infinity
 * ```
 */
export function float16Value(bits: number): number {
  if (table === undefined) {
    table = new Float32Array(65536);
    for (let half = 0; half < 65536; half++) {
      const sign = half & 0x8000 ? -1 : 1;
      const exponent = (half >>> 10) & 0x1f;
      const mantissa = half & 0x3ff;
      table[half] =
        exponent === 0x1f
          ? mantissa === 0
            ? sign * Number.POSITIVE_INFINITY
            : Number.NaN
          : exponent === 0
            ? sign * mantissa * 2 ** -24
            : sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
    }
  }
  return table[bits & 0xffff]!;
}

/**
 * Maps a binary16 bit pattern to an unsigned 16-bit key whose integer order is the numeric order
 * of the (non-NaN) values: positive patterns get the sign bit set, negative ones are inverted.
 * `-0` and `+0` map to the adjacent keys `0x7fff` and `0x8000`.
 *
 * @example
 * ```ts
 * float16Key(float16Bits(-1)) < float16Key(float16Bits(0.5)); // true
 * ```
 */
export function float16Key(bits: number): number {
  return bits & 0x8000 ? ~bits & 0xffff : bits | 0x8000;
}

/**
 * Inverse of {@link float16Key}.
 *
 * @example
 * ```ts
 * float16FromKey(float16Key(0xc100)); // 0xc100
 * ```
 */
export function float16FromKey(key: number): number {
  return key & 0x8000 ? key & 0x7fff : ~key & 0xffff;
}
