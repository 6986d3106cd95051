import { z } from 'zod';

/**
 * Schema helpers for mergekit-style parameters. A layer gradient evaluates to a number, so
 * boolean flags also accept 0 and 1.
 */
export const flag = (defaultValue: boolean) =>
  z
    .union([z.boolean(), z.literal(0), z.literal(1)])
    .default(defaultValue)
    .transform((value) => Boolean(value));

/** A finite real number, required unless `defaultValue` is given. */
export const real = (defaultValue?: number) =>
  defaultValue === undefined ? z.number() : z.number().default(defaultValue);

/** A fraction in [0, 1]. */
export const fraction = (defaultValue: number) => z.number().min(0).max(1).default(defaultValue);

/** mergekit's `int8_mask`: accepted for compatibility; fusechat masks are bytes already. */
export const int8Mask = () => flag(false);
