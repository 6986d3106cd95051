import { InvalidInputError } from '@fusechat/core';

type Raw = Readonly<Record<string, unknown>>;

function invalid(key: string, expected: string, value: unknown): never {
  throw new InvalidInputError(`config.json: "${key}" must be ${expected}, got ${JSON.stringify(value)}.`, {
    code: 'MODEL_INVALID_CONFIG',
    field: key,
  });
}

/**
 * Upper bounds of the size fields of `config.json`, far above every real checkpoint (the largest
 * open models have ~130 layers, 16k hidden, 256k vocabularies, 10M positions) but low enough that
 * what they size (per-layer arrays, rotary tables, the checks against the weights) cannot exhaust
 * memory before the checkpoint's headers are compared with them.
 */
export const CONFIG_SIZE_LIMITS: Readonly<Record<string, number>> = {
  num_hidden_layers: 1024,
  hidden_size: 131_072,
  intermediate_size: 1_048_576,
  num_attention_heads: 4096,
  num_key_value_heads: 4096,
  head_dim: 8192,
  vocab_size: 16_777_216,
  max_position_embeddings: 268_435_456,
  sliding_window: 268_435_456,
  max_window_layers: 1024,
};

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
  /**
   * A positive integer no larger than `max` (default {@link CONFIG_SIZE_LIMITS}[key], else 2^31 − 1):
   * sizes drive allocation, so an absurd one is refused here, before anything is allocated.
   */
  positiveInteger(raw: Raw, key: string, fallback?: number, max?: number): number {
    const value = raw[key] ?? fallback;
    if (value === undefined) {
      throw new InvalidInputError(`config.json: required key "${key}" is missing.`, {
        code: 'MODEL_INVALID_CONFIG',
        field: key,
      });
    }
    if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0)
      invalid(key, 'a positive integer', value);
    const limit = max ?? CONFIG_SIZE_LIMITS[key] ?? 2 ** 31 - 1;
    if (value > limit) {
      throw new InvalidInputError(
        `config.json: "${key}" is ${value}, above the largest value fusechat accepts (${limit}); no real checkpoint has that many — is config.json corrupt?`,
        { code: 'MODEL_INVALID_CONFIG', field: key, details: { value, limit } },
      );
    }
    return value;
  },
  number(raw: Raw, key: string, fallback: number): number {
    const value = raw[key] ?? fallback;
    if (typeof value !== 'number' || !Number.isFinite(value)) invalid(key, 'a finite number', value);
    return value;
  },
  /** A finite number > 0 (epsilons, rotary bases, scaling factors). */
  positiveNumber(raw: Raw, key: string, fallback: number): number {
    const value = raw[key] ?? fallback;
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0)
      invalid(key, 'a finite number > 0', value);
    return value;
  },
  boolean(raw: Raw, key: string, fallback: boolean): boolean {
    const value = raw[key] ?? fallback;
    if (typeof value !== 'boolean') invalid(key, 'true or false', value);
    return value;
  },
  /** A token id (below `vocabSize` when given) or null. */
  tokenId(raw: Raw, key: string, vocabSize?: number): number | null {
    const value = raw[key] ?? null;
    if (value !== null && !isTokenId(value, vocabSize)) {
      invalid(
        key,
        vocabSize === undefined ? 'a token id or null' : `a token id below vocab_size (${vocabSize}) or null`,
        value,
      );
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
  tokenIds(raw: Raw, key: string, vocabSize?: number): number | readonly number[] | null {
    const value = raw[key] ?? null;
    if (Array.isArray(value)) {
      if (!value.every((id) => isTokenId(id, vocabSize)))
        invalid(key, 'a token id, a list of ids below vocab_size or null', value);
      return value as number[];
    }
    return configField.tokenId(raw, key, vocabSize);
  },
};

function isTokenId(value: unknown, vocabSize: number | undefined): boolean {
  return (
    typeof value === 'number' &&
    Number.isInteger(value) &&
    value >= 0 &&
    (vocabSize === undefined || value < vocabSize)
  );
}
