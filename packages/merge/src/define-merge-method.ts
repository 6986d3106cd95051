import { InvalidInputError } from '@fusechat/core';
import type {
  BaseModelUse,
  MergeMethod,
  MergeTensorInput,
  MergeTensorResult,
  ParameterSchemas,
  ParameterValues,
  StreamingPass,
} from './merge-method.js';

/** What {@link defineMergeMethod} takes. */
export interface MergeMethodDefinition<Global extends ParameterSchemas, PerModel extends ParameterSchemas> {
  readonly name: string;
  readonly description?: string;
  /** Default `required`. */
  readonly baseModel?: BaseModelUse;
  /** Default `{ min: 1 }`. */
  readonly modelCount?: { readonly min: number; readonly max?: number };
  /** `merge` returns `changeMeanSquare` itself (see `MergeMethod.reportsChange`). */
  readonly reportsChange?: boolean;
  /** Global parameters as zod schemas; `.default(…)` makes one optional. */
  readonly parameters?: Global;
  /** Per-model parameters as zod schemas (global values are their fallback, as in mergekit). */
  readonly perModelParameters?: PerModel;
  /** Preflight check of one tensor's parameters; return problems (empty = fine). */
  readonly checkParameters?: (input: {
    tensorName: string;
    parameters: ParameterValues<Global>;
    models: readonly ParameterValues<PerModel>[];
  }) => string[];
  /** A first pass run while the inputs are read (see `MergeMethod.beginStreamingPass`). */
  readonly beginStreamingPass?: (
    input: MergeTensorInput<ParameterValues<Global>, ParameterValues<PerModel>>,
  ) => StreamingPass | undefined;
  readonly merge: (
    input: MergeTensorInput<ParameterValues<Global>, ParameterValues<PerModel>>,
  ) => Float32Array | MergeTensorResult;
}

/**
 * Defines a merge method whose parameters are validated (zod) and typed from their schemas, so
 * `merge` receives `parameters.lambda: number` rather than `unknown`.
 *
 * @example
 * ```ts
 * import { z } from 'zod';
 * const average = defineMergeMethod({
 *   name: 'average_delta',
 *   parameters: { scale: z.number().default(1) },
 *   perModelParameters: { weight: z.number().default(1) },
 *   merge({ base, models, parameters }) {
 *     const out = Float32Array.from(base!);
 *     for (const { tensor, parameters: p } of models)
 *       for (let i = 0; i < out.length; i++) out[i] += (parameters.scale * p.weight * (tensor[i]! - base![i]!)) / models.length;
 *     return out;
 *   },
 * });
 * ```
 */
export function defineMergeMethod<
  Global extends ParameterSchemas = Record<never, never>,
  PerModel extends ParameterSchemas = Record<never, never>,
>(
  definition: MergeMethodDefinition<Global, PerModel>,
): MergeMethod<ParameterValues<Global>, ParameterValues<PerModel>> {
  if (!/^[a-z][a-z0-9_]*$/.test(definition.name)) {
    throw new InvalidInputError(
      `Merge method name "${definition.name}" must be snake_case (lowercase letters, digits, underscores), like mergekit's.`,
      { code: 'MERGE_METHOD_NAME', field: 'name' },
    );
  }
  const parameters = (definition.parameters ?? {}) as Global;
  const perModelParameters = (definition.perModelParameters ?? {}) as PerModel;
  const modelCount = definition.modelCount ?? { min: 1 };
  return Object.freeze({
    name: definition.name,
    description: definition.description ?? '',
    baseModel: definition.baseModel ?? 'required',
    modelCount,
    ...(definition.reportsChange ? { reportsChange: true } : {}),
    parameters,
    perModelParameters,
    parseParameters: (raw: Readonly<Record<string, unknown>>, where?: string) =>
      parseParameterValues(definition.name, parameters, raw, where ?? 'parameters'),
    parsePerModelParameters: (raw: Readonly<Record<string, unknown>>, where?: string) =>
      parseParameterValues(definition.name, perModelParameters, raw, where ?? 'models[].parameters'),
    ...(definition.checkParameters ? { checkParameters: definition.checkParameters } : {}),
    ...(definition.beginStreamingPass ? { beginStreamingPass: definition.beginStreamingPass } : {}),
    merge: definition.merge,
  });
}

/**
 * Parses raw values against schemas, collecting every problem into one {@link InvalidInputError}
 * (`details.problems` lists them).
 */
export function parseParameterValues<Schemas extends ParameterSchemas>(
  methodName: string,
  schemas: Schemas,
  raw: Readonly<Record<string, unknown>>,
  where: string,
): ParameterValues<Schemas> {
  const values: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [name, schema] of Object.entries(schemas)) {
    const value = raw[name];
    const result = schema.safeParse(value);
    if (result.success) {
      values[name] = result.data;
    } else if (value === undefined) {
      problems.push(`${where}.${name}: ${methodName} requires "${name}"`);
    } else {
      const reason = result.error.issues.map((issue) => issue.message).join('; ');
      problems.push(`${where}.${name}: ${JSON.stringify(value)} is invalid for ${methodName}: ${reason}`);
    }
  }
  if (problems.length > 0) {
    throw new InvalidInputError(
      problems.length === 1 ? problems[0]! : `${problems.length} invalid parameters: ${problems.join('; ')}`,
      {
        code: 'MERGE_PARAMETER_INVALID',
        field: where,
        details: { method: methodName, problems },
      },
    );
  }
  return values as ParameterValues<Schemas>;
}
