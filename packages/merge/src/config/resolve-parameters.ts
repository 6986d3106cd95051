import type { MergeConfig } from './merge-config.js';
import { evaluateSetting, type ParameterSetting, type ScalarSetting } from './parameter-setting.js';

const LAYER_PATTERN = /(?:^|\.)(?:layers|h|blocks|layer)\.(\d+)\./;

/**
 * The decoder layer a tensor belongs to, from its name (`model.layers.12.mlp…` → 12), or
 * `undefined` for embeddings, final norms and heads.
 *
 * @example
 * ```ts
 * layerIndexOf('model.layers.12.mlp.down_proj.weight'); // 12
 * layerIndexOf('lm_head.weight'); // undefined
 * ```
 */
export function layerIndexOf(tensorName: string): number | undefined {
  const match = LAYER_PATTERN.exec(tensorName);
  return match ? Number(match[1]) : undefined;
}

/** Where a tensor sits for parameter purposes. */
export interface TensorPosition {
  /** Index of the slice the tensor's layer falls in (0 for non-layer tensors). */
  readonly slice: number;
  /** Position within the slice, 0…1 (0 for non-layer tensors: a gradient's first value). */
  readonly t: number;
}

/**
 * Resolves parameters for tensors with mergekit's precedence: per model (in the slice) → slice →
 * global → (method default, applied by the method's schema).
 */
export interface ParameterResolver {
  /** The slice and gradient position of a tensor; `undefined` when no slice covers its layer. */
  position(tensorName: string): TensorPosition | undefined;
  /** Raw global values (before the method's schema) of `names` for this tensor. */
  global(names: readonly string[], tensorName: string): Record<string, ScalarSetting | undefined>;
  /** Raw per-model values of `names` for this tensor and model. */
  perModel(
    names: readonly string[],
    model: string,
    tensorName: string,
  ): Record<string, ScalarSetting | undefined>;
}

/**
 * Builds a {@link ParameterResolver} for a config whose models have `layerCount` layers.
 *
 * @example
 * ```ts
 * const resolver = createParameterResolver(config, 32);
 * resolver.perModel(['weight', 'density'], './target-1', 'model.layers.3.mlp.up_proj.weight');
 * ```
 */
export function createParameterResolver(config: MergeConfig, layerCount: number): ParameterResolver {
  const slices =
    config.slices.length > 0
      ? config.slices
      : [
          {
            layerRange: [0, Math.max(layerCount, 1)] as const,
            parameters: {},
            modelParameters: new Map(config.models.map((model) => [model.model, model.parameters])),
          },
        ];

  const position = (tensorName: string): TensorPosition | undefined => {
    const layer = layerIndexOf(tensorName);
    if (layer === undefined) return { slice: 0, t: 0 };
    const index = slices.findIndex((slice) => layer >= slice.layerRange[0] && layer < slice.layerRange[1]);
    if (index < 0) return undefined;
    const [start, end] = slices[index]!.layerRange;
    return { slice: index, t: end - start > 1 ? (layer - start) / (end - start - 1) : 1 };
  };

  const lookup = (
    levels: readonly (Readonly<Record<string, ParameterSetting>> | undefined)[],
    name: string,
    tensorName: string,
    t: number,
  ): ScalarSetting | undefined => {
    for (const level of levels) {
      const setting = level?.[name];
      if (setting === undefined) continue;
      const value = evaluateSetting(tensorName, setting, t);
      if (value !== undefined) return value;
    }
    return undefined;
  };

  return {
    position,
    global(names, tensorName) {
      const where = position(tensorName) ?? { slice: 0, t: 0 };
      const slice = slices[where.slice]!;
      return Object.fromEntries(
        names.map((name) => [name, lookup([slice.parameters, config.parameters], name, tensorName, where.t)]),
      );
    },
    perModel(names, model, tensorName) {
      const where = position(tensorName) ?? { slice: 0, t: 0 };
      const slice = slices[where.slice]!;
      return Object.fromEntries(
        names.map((name) => [
          name,
          lookup(
            [slice.modelParameters.get(model), slice.parameters, config.parameters],
            name,
            tensorName,
            where.t,
          ),
        ]),
      );
    },
  };
}
