import type { DType } from './dtype.js';

/** The typed arrays a tensor's elements live in (F16 and BF16 as raw `Uint16Array` bits, BOOL as `Uint8Array`). */
export type TensorArray =
  | Float32Array
  | Float64Array
  | Uint16Array
  | BigInt64Array
  | Int32Array
  | Int16Array
  | Int8Array
  | Uint8Array;

/** A tensor in memory: dtype, shape (row-major) and its elements. */
export interface TensorData {
  dtype: DType;
  shape: number[];
  /** F16/BF16 hold the raw 16-bit patterns; BOOL holds 0/1 bytes. */
  data: TensorArray;
}

/** Where a tensor lives in a `.safetensors` file, as validated at open. */
export interface TensorInfo {
  name: string;
  dtype: DType;
  shape: number[];
  /** Product of the shape (1 for a scalar `[]`, 0 when a dimension is 0). */
  numel: number;
  byteLength: number;
  /** Absolute byte offset of the data in the file. */
  dataOffset: number;
}
