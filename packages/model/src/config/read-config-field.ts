import { InvalidInputError } from '@fusechat/core';

type Raw = Readonly<Record<string, unknown>>;

function invalid(key: string, expected: string, value: unknown): never {
  throw new InvalidInputError(`config.json: "${key}" must be ${expected}, got ${JSON.stringify(value)}.`, {
    code: 'MODEL_INVALID_CONFIG',
    field: key,
  });
}

/**
 * Readers for `config.json` fields that name the key and the expected type in their error.
 *
 * @example
 * ```ts
 * const hidden = configField.positiveInteger(raw, 'hidden_size');
 * const eps = configField.number(raw, 'rms_norm_eps', 1e-6);
 * ```
 */
export const configField = {
  positiveInteger(raw: Raw, key: string, fallback?: number): number {
    const value = raw[key] ?? fallback;
    if (value === undefined) {
      throw new InvalidInputError(`config.json: required key "${key}" is missing.`, {
        code: 'MODEL_INVALID_CONFIG',
        field: key,
      });
    }
    if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0)
      invalid(key, 'a positive integer', value);
    return value;
  },
  number(raw: Raw, key: string, fallback: number): number {
    const value = raw[key] ?? fallback;
    if (typeof value !== 'number' || !Number.isFinite(value)) invalid(key, 'a finite number', value);
    return value;
  },
  boolean(raw: Raw, key: string, fallback: boolean): boolean {
    const value = raw[key] ?? fallback;
    if (typeof value !== 'boolean') invalid(key, 'true or false', value);
    return value;
  },
  tokenId(raw: Raw, key: string): number | null {
    const value = raw[key] ?? null;
    if (value !== null && (typeof value !== 'number' || !Number.isInteger(value) || value < 0)) {
      invalid(key, 'a token id or null', value);
    }
    return value as number | null;
  },
  slidingWindow(raw: Raw, key: string): number | null {
    const value = raw[key] ?? null;
    if (value !== null && (typeof value !== 'number' || !Number.isInteger(value) || value <= 0)) {
      invalid(key, 'a positive integer or null', value);
    }
    return value as number | null;
  },
  tokenIds(raw: Raw, key: string): number | readonly number[] | null {
    const value = raw[key] ?? null;
    if (Array.isArray(value)) {
      if (!value.every((id) => Number.isInteger(id) && id >= 0))
        invalid(key, 'a token id, a list of ids or null', value);
      return value as number[];
    }
    return configField.tokenId(raw, key);
  },
};
