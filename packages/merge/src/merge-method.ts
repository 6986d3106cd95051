import type { Random } from '@fusechat/core';
import type { z } from 'zod';

/** Parameter schemas of a merge method: one zod schema per parameter name (mergekit's names). */
export type ParameterSchemas = Readonly<Record<string, z.ZodType>>;

/** The parsed parameter values a set of {@link ParameterSchemas} describes. */
export type ParameterValues<Schemas extends ParameterSchemas> = {
  [Name in keyof Schemas]: z.output<Schemas[Name]>;
};

/**
 * How a method uses `base_model`:
 * - `required`: deltas are taken against it (task arithmetic, TIES, DARE, SCE, VaRM, SLERP);
 * - `optional`: used when given;
 * - `unused`: the method does not read it (linear); when the base is also listed in `models` it is
 *   merged as an ordinary model with its own parameters, as mergekit does.
 */
export type BaseModelUse = 'required' | 'optional' | 'unused';

/** One model's tensor and its resolved per-model parameters, as a method receives them. */
export interface MergeModelInput<PerModel> {
  /** The model's name as written in the config (`models[].model`). */
  readonly model: string;
  /**
   * The model's tensor, float32, same length as the output. The method owns it for the duration
   * of the call and may overwrite it (the engine never reads it again): reuse it as scratch.
   */
  readonly tensor: Float32Array;
  /** Per-model parameters, resolved for this tensor (per model → global → default). */
  readonly parameters: PerModel;
}

/** Everything a method sees for one tensor. */
export interface MergeTensorInput<Global, PerModel> {
  /** Hugging Face tensor name, e.g. `model.layers.3.mlp.up_proj.weight`. */
  readonly tensorName: string;
  /** Tensor shape (row-major); every array has `shape.reduce(×)` elements. */
  readonly shape: readonly number[];
  /**
   * The base (pivot) model's tensor when the config names one and the method reads it; may be
   * overwritten like the model tensors.
   */
  readonly base: Float32Array | undefined;
  /** The models to merge, in config order, without the base model (unless the method ignores the base). */
  readonly models: readonly MergeModelInput<PerModel>[];
  /** Global parameters, resolved for this tensor. */
  readonly parameters: Global;
  /** A generator seeded from the merge seed and the tensor name: same seed, same result. */
  readonly random: Random;
  /**
   * `mean((θj − θ0)²)` per model in float64, when the engine already computed it for the merge
   * report (a base is present); methods needing it may use it instead of another pass.
   */
  readonly changeMeanSquare?: readonly number[] | undefined;
  /**
   * What {@link MergeMethod.beginStreamingPass} returned for this tensor, already advanced over
   * every element; `undefined` when the method has none (or declined this tensor).
   */
  readonly streamingPass?: StreamingPass | undefined;
}

/**
 * A method's first per-element pass, run by the engine on the inputs while they are still being
 * read (so the math overlaps the reads). `advance` is called over consecutive ranges, in index
 * order, covering `[0, length)` exactly once; elements `[start, end)` of every input are final
 * when it is called, later ones are not yet read.
 */
export interface StreamingPass {
  advance(start: number, end: number): void;
}

/** What a method returns for one tensor: the merged tensor, optionally with the weights it chose. */
export interface MergeTensorResult {
  /** The merged tensor (float32, same length as the inputs); may be one of the input arrays. */
  readonly tensor: Float32Array;
  /**
   * The effective per-model weights the method chose for this tensor (in `models` order), for the
   * merge report: VaRM's variation ratios, SCE's coefficients.
   */
  readonly weights?: readonly number[];
  /**
   * `mean((θj − θ0)²)` per model, when the method computed it while forming deltas (see
   * {@link MergeMethod.reportsChange}).
   */
  readonly changeMeanSquare?: readonly number[];
  /**
   * `true` when the method's own last pass already found every output element finite (a fused
   * check), so the engine skips its separate scan. Anything else (or omitting it) keeps the scan,
   * which reports the first non-finite element.
   */
  readonly allFinite?: boolean;
}

/**
 * A merge strategy: its name, the parameters it takes, and the per-tensor math. Build one with
 * {@link defineMergeMethod}; plug it in with `createMergeRegistry({ ...builtinMergeMethods, mine })`.
 */
export interface MergeMethod<Global = Record<string, unknown>, PerModel = Record<string, unknown>> {
  /** The `merge_method` name in configs, snake_case like mergekit's. */
  readonly name: string;
  /** One line for `--help` and docs. */
  readonly description: string;
  /** Whether the method needs `base_model`. */
  readonly baseModel: BaseModelUse;
  /** Fewest and most models (not counting the base) the method accepts. */
  readonly modelCount: { readonly min: number; readonly max?: number | undefined };
  /**
   * `true` when `merge` returns `changeMeanSquare` itself (computed in the pass that forms the
   * deltas), so the engine skips its own pass over the inputs for the merge report.
   */
  readonly reportsChange?: boolean;
  /** Global parameter schemas (config `parameters:`), by mergekit name. */
  readonly parameters: ParameterSchemas;
  /** Per-model parameter schemas (`models[].parameters:`; a global value is the fallback). */
  readonly perModelParameters: ParameterSchemas;
  /**
   * Validates raw global parameter values (already resolved for one tensor; `undefined` = not
   * given) and applies defaults. Throws an `InvalidInputError` naming every bad field.
   */
  parseParameters(raw: Readonly<Record<string, unknown>>, where?: string): Global;
  /** Same as {@link MergeMethod.parseParameters} for one model's per-model parameters. */
  parsePerModelParameters(raw: Readonly<Record<string, unknown>>, where?: string): PerModel;
  /**
   * Optional preflight check of one tensor's resolved parameters (before any weight is read):
   * returns problems such as "weights sum to zero", reported with every other problem at once.
   */
  checkParameters?(input: { tensorName: string; parameters: Global; models: readonly PerModel[] }): string[];
  /**
   * Optional: starts a first per-element pass for one tensor before its inputs are read (the
   * input arrays are allocated but not yet filled; see {@link StreamingPass}). The engine hands
   * the advanced pass to `merge` as `input.streamingPass`; return `undefined` to decline. A pass
   * must give `merge` exactly the state a pass over the whole tensor would.
   */
  beginStreamingPass?(input: MergeTensorInput<Global, PerModel>): StreamingPass | undefined;
  /** Merges one tensor. Synchronous, pure apart from `random`; must not keep references to its inputs. */
  merge(input: MergeTensorInput<Global, PerModel>): Float32Array | MergeTensorResult;
}

/** A merge method of any parameter types, as registries hold them. */
// biome-ignore lint/suspicious/noExplicitAny: registries hold methods of every parameter type.
export type AnyMergeMethod = MergeMethod<any, any>;
