import { InvalidInputError } from '@fusechat/core';
import { z } from 'zod';
import { type ParameterSetting, parameterSettingSchema } from './parameter-setting.js';

const modelReference = z.string().min(1, 'a model path must not be empty');
const parameters = z.record(z.string(), parameterSettingSchema);
const dtypeName = z.enum([
  'float32',
  'fp32',
  'f32',
  'float16',
  'fp16',
  'f16',
  'half',
  'bfloat16',
  'bf16',
  'float64',
]);

/** zod schema of a mergekit-style merge config (plus fusechat's `seed` and `vocab_mismatch`). */
export const mergeConfigSchema = z
  .object({
    merge_method: z.string().min(1),
    base_model: modelReference.nullish(),
    models: z
      .array(z.object({ model: modelReference, parameters: parameters.nullish() }))
      .min(1)
      .nullish(),
    slices: z
      .array(
        z.object({
          sources: z
            .array(
              z.object({
                model: modelReference,
                layer_range: z.tuple([z.number().int().min(0), z.number().int().min(0)]),
                parameters: parameters.nullish(),
              }),
            )
            .min(1),
          base_model: modelReference.nullish(),
          parameters: parameters.nullish(),
        }),
      )
      .min(1)
      .nullish(),
    parameters: parameters.nullish(),
    dtype: dtypeName.nullish(),
    out_dtype: dtypeName.nullish(),
    tokenizer_source: z.string().nullish(),
    tokenizer: z.object({ source: z.string().nullish() }).loose().nullish(),
    /** fusechat: seed of DARE's random masks (default 0). */
    seed: z.number().int().nullish(),
    /** fusechat: embeddings whose vocabulary is larger than the base's are cropped, or refused. */
    vocab_mismatch: z.enum(['crop', 'error']).nullish(),
  })
  .loose();

/** A merge config as written (YAML parsed to an object). */
export type MergeConfigInput = z.input<typeof mergeConfigSchema>;

/** Output/compute dtype names fusechat understands. */
export type MergeDType = 'F32' | 'F16' | 'BF16' | 'F64';

/** One input model of a normalised config, with its per-model settings. */
export interface MergeConfigModel {
  readonly model: string;
  readonly parameters: Readonly<Record<string, ParameterSetting>>;
}

/** A layer range `[start, end)` with its own parameters (mergekit `slices`). */
export interface MergeConfigSlice {
  readonly layerRange: readonly [number, number];
  readonly parameters: Readonly<Record<string, ParameterSetting>>;
  readonly modelParameters: ReadonlyMap<string, Readonly<Record<string, ParameterSetting>>>;
}

/**
 * A validated config in one shape whether it was written with `models:` or `slices:`. `slices`
 * is empty for the `models:` form (one implicit slice over all layers).
 */
export interface MergeConfig {
  readonly mergeMethod: string;
  readonly baseModel: string | undefined;
  readonly models: readonly MergeConfigModel[];
  readonly slices: readonly MergeConfigSlice[];
  readonly parameters: Readonly<Record<string, ParameterSetting>>;
  readonly dtype: MergeDType | undefined;
  readonly outDtype: MergeDType | undefined;
  readonly tokenizerSource: string | undefined;
  readonly seed: number;
  readonly vocabMismatch: 'crop' | 'error';
  /** Keys fusechat accepted but ignores (`chat_template`, …): reported as warnings. */
  readonly ignoredKeys: readonly string[];
}

const KNOWN_KEYS = new Set(Object.keys(mergeConfigSchema.shape));

function toDType(name: string | null | undefined): MergeDType | undefined {
  if (name === undefined || name === null) return undefined;
  if (['float32', 'fp32', 'f32'].includes(name)) return 'F32';
  if (['float16', 'fp16', 'f16', 'half'].includes(name)) return 'F16';
  if (['bfloat16', 'bf16'].includes(name)) return 'BF16';
  return 'F64';
}

/**
 * Validates a parsed mergekit-style config and normalises it. Every problem is reported at once
 * in one `InvalidInputError` (`details.problems`).
 *
 * @example
 * ```ts
 * const config = parseMergeConfig(YAML.parse(text));
 * config.mergeMethod; // 'variation_ratio'
 * ```
 */
export function parseMergeConfig(raw: unknown): MergeConfig {
  const result = mergeConfigSchema.safeParse(raw);
  if (!result.success) {
    const problems = result.error.issues.map(
      (issue) => `${issue.path.length > 0 ? issue.path.join('.') : '(config)'}: ${issue.message}`,
    );
    throw configError(problems);
  }
  const input = result.data;
  const problems: string[] = [];
  const models: MergeConfigModel[] = [];
  const slices: MergeConfigSlice[] = [];
  let baseModel = input.base_model ?? undefined;

  if (input.models && input.slices)
    problems.push('models/slices: give either `models` or `slices`, not both');
  if (!input.models && !input.slices)
    problems.push('models: list the models to merge (`models:` or `slices:`)');

  if (input.models) {
    const seen = new Set<string>();
    input.models.forEach((entry, index) => {
      if (seen.has(entry.model)) problems.push(`models[${index}].model: "${entry.model}" is listed twice`);
      seen.add(entry.model);
      models.push({ model: entry.model, parameters: entry.parameters ?? {} });
    });
  }

  if (input.slices) {
    const first = input.slices[0]!.sources.map((source) => source.model);
    input.slices.forEach((slice, sliceIndex) => {
      const names = slice.sources.map((source) => source.model);
      if (names.length !== first.length || names.some((name, i) => name !== first[i])) {
        problems.push(
          `slices[${sliceIndex}].sources: every slice must list the same models in the same order (fusechat merges layer-aligned models; it does not stack or reorder layers)`,
        );
      }
      const range = slice.sources[0]!.layer_range;
      slice.sources.forEach((source, sourceIndex) => {
        if (source.layer_range[0] !== range[0] || source.layer_range[1] !== range[1]) {
          problems.push(
            `slices[${sliceIndex}].sources[${sourceIndex}].layer_range: [${source.layer_range.join(', ')}] differs from [${range.join(', ')}]; fusechat merges layer i with layer i only`,
          );
        }
      });
      if (range[1] <= range[0])
        problems.push(`slices[${sliceIndex}]: layer_range [${range.join(', ')}] is empty`);
      const expectedStart = sliceIndex === 0 ? 0 : slices[sliceIndex - 1]?.layerRange[1];
      if (expectedStart !== undefined && range[0] !== expectedStart) {
        problems.push(
          `slices[${sliceIndex}]: layer_range starts at ${range[0]}, expected ${expectedStart} (slices must cover the layers in order without gaps or overlaps)`,
        );
      }
      if (slice.base_model && baseModel && slice.base_model !== baseModel) {
        problems.push(
          `slices[${sliceIndex}].base_model: a per-slice base model different from base_model is not supported`,
        );
      }
      baseModel ??= slice.base_model ?? undefined;
      slices.push({
        layerRange: [range[0], range[1]],
        parameters: slice.parameters ?? {},
        modelParameters: new Map(slice.sources.map((source) => [source.model, source.parameters ?? {}])),
      });
    });
    for (const model of first) models.push({ model, parameters: {} });
  }

  const tokenizerSource = input.tokenizer?.source ?? input.tokenizer_source ?? undefined;
  if (tokenizerSource === 'union') {
    problems.push(
      'tokenizer_source: "union" (building a merged vocabulary) is not supported; use "base" or one of the models',
    );
  }
  if (problems.length > 0) throw configError(problems);

  return {
    mergeMethod: input.merge_method,
    baseModel,
    models,
    slices,
    parameters: input.parameters ?? {},
    dtype: toDType(input.dtype),
    outDtype: toDType(input.out_dtype),
    tokenizerSource: tokenizerSource === 'base' ? undefined : tokenizerSource,
    seed: input.seed ?? 0,
    vocabMismatch: input.vocab_mismatch ?? 'crop',
    ignoredKeys: Object.keys(input).filter((key) => !KNOWN_KEYS.has(key)),
  };
}

function configError(problems: string[]): InvalidInputError {
  return new InvalidInputError(
    `Invalid merge config (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n  - ${problems.join('\n  - ')}`,
    { code: 'MERGE_CONFIG_INVALID', details: { problems } },
  );
}
