/** Element types this package reads and writes (the safetensors names). */
export type DType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

/** Every supported {@link DType}, in the order error messages list them. */
export const DTYPES: readonly DType[] = [
  'F64',
  'F32',
  'F16',
  'BF16',
  'I64',
  'I32',
  'I16',
  'I8',
  'U8',
  'BOOL',
];

/**
 * Bytes per element of each dtype.
 *
 * @example
 * ```ts
 * const bytes = numel * DTYPE_BYTES.BF16; // 2 bytes per element
 * ```
 */
export const DTYPE_BYTES: Readonly<Record<DType, number>> = Object.freeze({
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
});

/**
 * `true` when `value` names a supported dtype.
 *
 * @example
 * ```ts
 * isDType('BF16'); // true
 * isDType('F8_E4M3'); // false
 * ```
 */
export function isDType(value: unknown): value is DType {
  return typeof value === 'string' && Object.hasOwn(DTYPE_BYTES, value);
}
