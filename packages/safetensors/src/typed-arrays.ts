// Internal helpers: typed-array views over tensor bytes, by dtype.
import { endianness } from 'node:os';
import { FuseChatError } from '@fusechat/core';
import type { DType } from './dtype.js';
import type { TensorArray } from './tensor-data.js';

type TypedArrayConstructor = {
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): TensorArray;
  readonly BYTES_PER_ELEMENT: number;
  readonly name: string;
};

/** The typed-array class that holds each dtype. */
export const ARRAY_TYPES: Readonly<Record<DType, TypedArrayConstructor>> = {
  F64: Float64Array,
  F32: Float32Array,
  F16: Uint16Array,
  BF16: Uint16Array,
  I64: BigInt64Array,
  I32: Int32Array,
  I16: Int16Array,
  I8: Int8Array,
  U8: Uint8Array,
  BOOL: Uint8Array,
};

/** safetensors stores little-endian; typed arrays use the host order. */
export function assertLittleEndianHost(): void {
  if (endianness() !== 'LE')
    throw new FuseChatError(
      'SAFETENSORS_BIG_ENDIAN_HOST',
      'This platform is big-endian; @fusechat/safetensors only supports little-endian hosts.',
    );
}

/**
 * Views `bytes` as the dtype's typed array, copying into a fresh aligned buffer only when the
 * view would be misaligned (a Float32Array needs a 4-aligned byteOffset).
 */
export function viewAs(bytes: Uint8Array, dtype: DType): TensorArray {
  const ArrayType = ARRAY_TYPES[dtype];
  const size = ArrayType.BYTES_PER_ELEMENT;
  let source = bytes;
  if (source.byteOffset % size !== 0) {
    source = new Uint8Array(source.byteLength);
    source.set(bytes);
  }
  return new ArrayType(source.buffer, source.byteOffset, source.byteLength / size);
}

/** The bytes of a typed array, without copying. */
export function bytesOf(data: TensorArray): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** `true` when `data` is the typed array that stores `dtype`. */
export function matchesDType(data: TensorArray, dtype: DType): boolean {
  return data instanceof ARRAY_TYPES[dtype];
}
