import { InvalidInputError, NumericalError } from '@fusechat/core';
import { bfloat16ToFloat32, float32ToBfloat16 } from './bfloat16.js';
import { DTYPES, type DType, isDType } from './dtype.js';
import { float16ToFloat32, float32ToFloat16 } from './float16.js';
import type { TensorArray, TensorData } from './tensor-data.js';
import { ARRAY_TYPES, matchesDType } from './typed-arrays.js';

/**
 * A tensor's elements as float32, whatever its dtype: F32 is returned as is (no copy), F16 and BF16
 * are decoded exactly, F64 and integers are rounded to the nearest float32, BOOL gives 0/1.
 *
 * @example
 * ```ts
 * const tensor = await file.readTensor('model.embed_tokens.weight'); // BF16
 * const values = toFloat32(tensor); // Float32Array
 * ```
 */
export function toFloat32(tensor: TensorData): Float32Array {
  const { dtype, data } = tensor;
  if (!isDType(dtype))
    throw new InvalidInputError(`Unknown dtype "${String(dtype)}"; known: ${DTYPES.join(', ')}.`, {
      code: 'SAFETENSORS_UNKNOWN_DTYPE',
      field: 'dtype',
    });
  if (!matchesDType(data, dtype))
    throw new InvalidInputError(
      `Tensor data is a ${data.constructor.name} but dtype ${dtype} is stored in a ${ARRAY_TYPES[dtype].name}.`,
      { code: 'SAFETENSORS_DTYPE_MISMATCH', field: 'data' },
    );
  switch (dtype) {
    case 'F32':
      return data as Float32Array;
    case 'F16':
      return float16ToFloat32(data as Uint16Array);
    case 'BF16':
      return bfloat16ToFloat32(data as Uint16Array);
    case 'I64': {
      // Read the two 32-bit halves instead of converting BigInts one by one (≈50× faster).
      const words = new Uint32Array(data.buffer, data.byteOffset, data.length * 2);
      const out = new Float32Array(data.length);
      for (let i = 0; i < out.length; i++) out[i] = words[2 * i]! + (words[2 * i + 1]! | 0) * 4294967296;
      return out;
    }
    default: {
      const source = data as Exclude<TensorArray, BigInt64Array>;
      const out = new Float32Array(source.length);
      out.set(source);
      return out;
    }
  }
}

// [min, max + 1): 2 ** 63 - 1 is not a double, so compare against the exclusive bound.
const INTEGER_RANGES: Partial<Record<DType, [number, number]>> = {
  I64: [-(2 ** 63), 2 ** 63],
  I32: [-(2 ** 31), 2 ** 31],
  I16: [-32768, 32768],
  I8: [-128, 128],
  U8: [0, 256],
};

/**
 * Converts float32 values to the typed array that stores `dtype`. F32 returns `x` itself;
 * F16/BF16 round to nearest even; integer dtypes round to nearest (halves away from zero) and
 * throw on NaN, Infinity or values outside the type's range; BOOL stores `x !== 0` as 0/1.
 *
 * @example
 * ```ts
 * const bits = fromFloat32(new Float32Array([1, 2]), 'BF16'); // Uint16Array [0x3f80, 0x4000]
 * ```
 */
export function fromFloat32(x: Float32Array, dtype: DType): TensorArray {
  switch (dtype) {
    case 'F32':
      return x;
    case 'F16':
      return float32ToFloat16(x);
    case 'BF16':
      return float32ToBfloat16(x);
    case 'F64':
      return Float64Array.from(x);
    case 'BOOL': {
      const out = new Uint8Array(x.length);
      for (let i = 0; i < x.length; i++) out[i] = x[i] !== 0 ? 1 : 0;
      return out;
    }
    case 'I64':
    case 'I32':
    case 'I16':
    case 'I8':
    case 'U8': {
      const [min, end] = INTEGER_RANGES[dtype]!;
      const rounded = new Float64Array(x.length);
      for (let i = 0; i < x.length; i++) {
        const value = x[i]!;
        const r = value < 0 ? -Math.round(-value) : Math.round(value);
        if (!(r >= min && r < end))
          throw new NumericalError(
            `Cannot store ${value} (element ${i}) as ${dtype}: it is not finite or outside [${min}, ${end}).`,
            { code: 'SAFETENSORS_INTEGER_OUT_OF_RANGE', details: { index: i, value, dtype } },
          );
        rounded[i] = r;
      }
      if (dtype === 'I64') {
        const out = new BigInt64Array(x.length);
        for (let i = 0; i < x.length; i++) out[i] = BigInt(rounded[i]!);
        return out;
      }
      const out = new (ARRAY_TYPES[dtype] as Int32ArrayConstructor)(x.length);
      out.set(rounded);
      return out;
    }
    default:
      throw new InvalidInputError(`Unknown dtype "${String(dtype)}"; known: ${DTYPES.join(', ')}.`, {
        code: 'SAFETENSORS_UNKNOWN_DTYPE',
        field: 'dtype',
      });
  }
}
