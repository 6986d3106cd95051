import { z } from 'zod';

/** A parameter value that needs no context: number, flag or name. */
export type ScalarSetting = number | boolean | string;

/** `{ filter: self_attn, value: 0.3 }`: applies to tensors whose name contains `filter`. */
export interface ConditionalSetting {
  readonly filter?: string | null | undefined;
  readonly value: ScalarSetting | readonly ScalarSetting[];
}

/**
 * A mergekit parameter setting: a scalar, a layer gradient (list of numbers, interpolated over
 * the layer index), or `{filter, value}` conditions (first match by substring wins; no `filter`
 * or `*` matches every tensor).
 */
export type ParameterSetting =
  | ScalarSetting
  | readonly ScalarSetting[]
  | ConditionalSetting
  | readonly ConditionalSetting[];

const scalar = z.union([z.number(), z.boolean(), z.string()]);
const conditional = z.object({
  filter: z.string().nullish(),
  value: z.union([scalar, z.array(scalar).min(1)]),
});

/** zod schema of a {@link ParameterSetting}. */
export const parameterSettingSchema: z.ZodType<ParameterSetting> = z.union([
  scalar,
  z.array(scalar).min(1),
  conditional,
  z.array(conditional).min(1),
]);

/**
 * Evaluates a setting for one tensor, exactly as mergekit's `evaluate_setting`: a list of numbers
 * is interpolated at `t · (length − 1)` (`t` = position of the layer in its slice, 0…1); a list
 * of other scalars is indexed at `⌊t · (length − 1)⌋`; conditions are tried in order. Returns
 * `undefined` when no condition matches, so the caller falls back to the next level.
 *
 * @example
 * ```ts
 * evaluateSetting('model.layers.0.mlp.up_proj.weight', [0, 1], 0.25); // → 0.25
 * evaluateSetting('model.layers.0.self_attn.q_proj.weight', [{ filter: 'self_attn', value: 0.3 }, { value: 1 }], 0); // → 0.3
 * ```
 */
export function evaluateSetting(
  tensorName: string,
  setting: ParameterSetting,
  t: number,
): ScalarSetting | undefined {
  if (!Array.isArray(setting)) {
    if (typeof setting === 'object' && setting !== null) {
      return matches(tensorName, setting as ConditionalSetting)
        ? evaluateSetting(tensorName, (setting as ConditionalSetting).value as ParameterSetting, t)
        : undefined;
    }
    return setting as ScalarSetting;
  }
  const list = setting as readonly unknown[];
  if (list.every((entry) => typeof entry === 'number')) {
    const numbers = list as readonly number[];
    const scaled = t * (numbers.length - 1);
    const lower = Math.trunc(scaled);
    const upper = Math.min(numbers.length - 1, lower + 1);
    const fraction = scaled - lower;
    return (1 - fraction) * numbers[lower]! + fraction * numbers[upper]!;
  }
  if (list.every((entry) => typeof entry !== 'object' || entry === null)) {
    return (list as readonly ScalarSetting[])[Math.trunc(t * (list.length - 1))];
  }
  for (const condition of list as readonly ConditionalSetting[]) {
    if (matches(tensorName, condition))
      return evaluateSetting(tensorName, condition.value as ParameterSetting, t);
  }
  return undefined;
}

function matches(tensorName: string, condition: ConditionalSetting): boolean {
  const filter = condition.filter;
  return filter === undefined || filter === null || filter === '*' || tensorName.includes(filter);
}
