import { NumericalError } from '@fusechat/core';

/**
 * Throws a {@link NumericalError} with `code` when `values` holds NaN or ±Inf, naming `where`
 * (a tensor, a generation step, an example) and the first bad element: every computation of
 * this package refuses non-finite results instead of reporting them as success.
 *
 * @example
 * ```ts
 * assertFinite(logits, 'MODEL_NON_FINITE_LOGITS', 'the logits of generation step 3');
 * ```
 */
export function assertFinite(
  values: ArrayLike<number>,
  code: string,
  where: string,
  details: Record<string, unknown> = {},
): void {
  for (let i = 0; i < values.length; i++) {
    const value = values[i]!;
    // value - value is 0 for every finite value, NaN for NaN and ±Inf.
    if (value - value !== 0) {
      throw new NumericalError(`${where} hold${where.endsWith('s') ? '' : 's'} ${value} at element ${i}.`, {
        code,
        tensorName: typeof details.tensorName === 'string' ? details.tensorName : undefined,
        details: { ...details, index: i, value: String(value) },
      });
    }
  }
}
