import { InvalidInputError } from '@fusechat/core';

/** What a numeric option accepts; `rule` says it in words for the error message. */
export interface NumberRule {
  readonly integer?: boolean;
  readonly min?: number;
  readonly max?: number;
  readonly minExclusive?: boolean;
  readonly rule: string;
}

/** Accepts positive integers only (`--batch-size`, `--source-steps`, …). */
export const POSITIVE_INTEGER: NumberRule = { integer: true, min: 1, rule: 'a positive integer' };

/** Accepts 0, 1, 2, … (`--max-new-tokens`, `--seed`, …). */
export const NON_NEGATIVE_INTEGER: NumberRule = { integer: true, min: 0, rule: 'a non-negative integer' };

/**
 * Parses the text of a numeric CLI option; anything outside `rules` is a one-line
 * `CLI_INVALID_NUMBER` error naming the option. Integers must be written as plain digits.
 *
 * @example
 * ```ts
 * parseNumberOption('0.9', 'top-p', { min: 0, max: 1, minExclusive: true, rule: 'in (0, 1]' }); // 0.9
 * parseNumberOption('8', 'batch-size', POSITIVE_INTEGER); // 8
 * ```
 */
export function parseNumberOption(text: string, option: string, rules: NumberRule): number {
  const value = text.trim() === '' ? Number.NaN : Number(text);
  const ok =
    Number.isFinite(value) &&
    (!rules.integer || (/^\s*-?\d+\s*$/.test(text) && Number.isSafeInteger(value))) &&
    (rules.min === undefined || (rules.minExclusive ? value > rules.min : value >= rules.min)) &&
    (rules.max === undefined || value <= rules.max);
  if (!ok) {
    throw new InvalidInputError(`--${option}: "${text}" is not ${rules.rule}.`, {
      code: 'CLI_INVALID_NUMBER',
      field: option,
    });
  }
  return value;
}
