import { InvalidInputError } from '@fusechat/core';
import { DTYPE_BYTES, DTYPES, type DType, isDType } from './dtype.js';
import type { TensorArray } from './tensor-data.js';
import { fromFloat32 } from './to-float32.js';
import { ARRAY_TYPES, matchesDType } from './typed-arrays.js';

/** A tensor's place in a file about to be written. */
export interface PlannedTensor {
  name: string;
  dtype: DType;
  shape: number[];
}

/** The serialised header and where each tensor's bytes go. */
export interface SerializedHeader {
  /** The 8-byte little-endian length followed by the space-padded JSON. */
  bytes: Uint8Array;
  /** Absolute file offset of each tensor's data, in plan order. */
  dataOffsets: number[];
  byteLengths: number[];
  fileSize: number;
}

/**
 * Checks a plan (names unique and not `__metadata__`, known dtypes, integer shapes) and returns
 * each tensor's element count.
 */
export function validatePlan(plan: readonly PlannedTensor[], field: string): number[] {
  const seen = new Set<string>();
  return plan.map((tensor, index) => {
    const where = `${field}[${index}]`;
    if (typeof tensor?.name !== 'string' || tensor.name === '__metadata__')
      throw new InvalidInputError(
        `${where}: a tensor name must be a string other than "__metadata__", got ${JSON.stringify(tensor?.name)}.`,
        { code: 'SAFETENSORS_INVALID_NAME', field: `${where}.name` },
      );
    if (seen.has(tensor.name))
      throw new InvalidInputError(
        `${where}: tensor "${tensor.name}" is listed twice; names must be unique.`,
        {
          code: 'SAFETENSORS_DUPLICATE_TENSOR',
          field: `${where}.name`,
        },
      );
    seen.add(tensor.name);
    if (!isDType(tensor.dtype))
      throw new InvalidInputError(
        `${where}: tensor "${tensor.name}" has dtype ${JSON.stringify(tensor.dtype)}; supported: ${DTYPES.join(', ')}.`,
        { code: 'SAFETENSORS_UNKNOWN_DTYPE', field: `${where}.dtype` },
      );
    if (!Array.isArray(tensor.shape) || !tensor.shape.every((d) => Number.isSafeInteger(d) && d >= 0))
      throw new InvalidInputError(
        `${where}: tensor "${tensor.name}" has shape ${JSON.stringify(tensor.shape)}; use a list of non-negative integers ([] for a scalar).`,
        { code: 'SAFETENSORS_INVALID_SHAPE', field: `${where}.shape` },
      );
    const numel = tensor.shape.reduce((a, b) => a * b, 1);
    if (!Number.isSafeInteger(numel * DTYPE_BYTES[tensor.dtype]))
      throw new InvalidInputError(`${where}: tensor "${tensor.name}" is too large to address.`, {
        code: 'SAFETENSORS_INVALID_SHAPE',
        field: `${where}.shape`,
      });
    return numel;
  });
}

/** Checks metadata is a string map. */
export function validateMetadata(metadata: unknown, field: string): Record<string, string> {
  if (metadata === undefined) return {};
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata))
    throw new InvalidInputError(`${field} must be an object of strings.`, {
      code: 'SAFETENSORS_INVALID_METADATA',
      field,
    });
  for (const [key, value] of Object.entries(metadata))
    if (typeof value !== 'string')
      throw new InvalidInputError(
        `${field}.${key} must be a string, got ${typeof value}; safetensors metadata holds strings only (JSON.stringify other values).`,
        { code: 'SAFETENSORS_INVALID_METADATA', field: `${field}.${key}` },
      );
  return metadata as Record<string, string>;
}

/**
 * Serialises a header for tensors laid out back to back in plan order; the JSON is padded with
 * spaces to a multiple of 8 bytes so the data starts 8-byte aligned.
 */
export function serializeHeader(
  plan: readonly PlannedTensor[],
  numels: readonly number[],
  metadata: Record<string, string>,
): SerializedHeader {
  const entries: string[] = [];
  if (Object.keys(metadata).length > 0) {
    const pairs = Object.entries(metadata).map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`);
    entries.push(`"__metadata__":{${pairs.join(',')}}`);
  }
  const relative: number[] = [];
  const byteLengths: number[] = [];
  let cursor = 0;
  plan.forEach((tensor, i) => {
    const byteLength = numels[i]! * DTYPE_BYTES[tensor.dtype];
    entries.push(
      `${JSON.stringify(tensor.name)}:{"dtype":"${tensor.dtype}","shape":[${tensor.shape.join(',')}],"data_offsets":[${cursor},${cursor + byteLength}]}`,
    );
    relative.push(cursor);
    byteLengths.push(byteLength);
    cursor += byteLength;
  });
  const json = Buffer.from(`{${entries.join(',')}}`, 'utf8');
  const padded = Math.ceil(json.byteLength / 8) * 8;
  const bytes = new Uint8Array(8 + padded);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(padded), true);
  bytes.set(json, 8);
  bytes.fill(0x20, 8 + json.byteLength);
  const bodyStart = 8 + padded;
  return {
    bytes,
    dataOffsets: relative.map((offset) => bodyStart + offset),
    byteLengths,
    fileSize: bodyStart + cursor,
  };
}

/**
 * Checks `data` fits the planned tensor and returns it in the planned dtype's typed array:
 * a Float32Array is converted to the planned dtype; any other array must already be the dtype's.
 */
export function coerceTensorData(
  data: TensorArray,
  tensor: PlannedTensor,
  numel: number,
  field: string,
): TensorArray {
  if (!ArrayBuffer.isView(data))
    throw new InvalidInputError(
      `${field}: tensor "${tensor.name}" needs a typed array, got ${typeof data}.`,
      {
        code: 'SAFETENSORS_DTYPE_MISMATCH',
        field,
      },
    );
  let values = data;
  if (!matchesDType(data, tensor.dtype)) {
    if (!(data instanceof Float32Array))
      throw new InvalidInputError(
        `${field}: tensor "${tensor.name}" is ${tensor.dtype}, stored in a ${ARRAY_TYPES[tensor.dtype].name}, but got a ${data.constructor.name}; pass that array type or a Float32Array to convert.`,
        { code: 'SAFETENSORS_DTYPE_MISMATCH', field },
      );
    values = fromFloat32(data, tensor.dtype);
  }
  if (values.length !== numel)
    throw new InvalidInputError(
      `${field}: tensor "${tensor.name}" with shape [${tensor.shape.join(', ')}] needs ${numel} elements, got ${values.length}.`,
      { code: 'SAFETENSORS_ELEMENT_COUNT_MISMATCH', field },
    );
  return values;
}
