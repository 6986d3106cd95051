import { validateSparseDistributions } from '@fusechat/core';
import type { FusionFunction, FusionResult, FusionTeacher } from './fusion-function.js';
import { builtinFusionFunctions, createFusionRegistry, type FusionRegistry } from './fusion-registry.js';

const builtinRegistry = createFusionRegistry(builtinFusionFunctions);

/** The teachers of one example: the pivot and the sources aligned onto it. */
export interface FusionInput {
  readonly pivot: FusionTeacher;
  readonly sources: readonly FusionTeacher[];
}

/** Options of {@link fuseTargets}. */
export interface FuseTargetsOptions {
  /** A registry name or a function. Default `min_ce` (FuseChat). */
  readonly fusion?: string | FusionFunction;
  /** Where names are looked up. Default: the built-in functions. */
  readonly registry?: FusionRegistry;
  /** Slots per position in the output (default: chosen by the fusion function). */
  readonly k?: number;
  /**
   * Distillation temperature (FuseChat's `distill_temperature`), default 1: each teacher is
   * tempered, `softmax(logits / T)` over its kept entries, before the fusion function picks or
   * mixes them; the result is the final target — give the loss `temperature: 1` (its default).
   */
  readonly temperature?: number;
  /** When given, every teacher id must lie in `[0, vocabSize)` (the pivot vocabulary). */
  readonly vocabSize?: number;
}

/**
 * Fuses the teachers of one example into the sparse target the student learns from (DESIGN.md §3):
 * the pivot's and the aligned sources' top-k distributions (on pivot positions and pivot ids)
 * with their mean response CEs go in; one `SparseDistributions` on pivot positions comes out,
 * plus each teacher's share. FuseChat fuses pairs: `{pivot, sources: [source_i]}`.
 *
 * @throws UnknownNameError for an unknown fusion name (listing the known ones);
 *   ShapeMismatchError when a source has a different number of positions than the pivot;
 *   InvalidInputError for ids outside `vocabSize` or a negative CE; NumericalError for NaN logits.
 *
 * @example
 * ```ts
 * const fused = fuseTargets(
 *   { pivot: { distributions: pivotRecord.topK, ce: pivotRecord.ce },
 *     sources: [{ name: 'qwen', distributions: aligned, ce: sourceRecord.ce }] },
 *   { fusion: 'min_ce' },
 * );
 * fused.distributions; // SparseDistributions, one row per pivot position
 * fused.teacherWeights; // [0, 1] when the source had the lower CE
 * ```
 */
export function fuseTargets(input: FusionInput, options: FuseTargetsOptions = {}): FusionResult {
  const registry = options.registry ?? builtinRegistry;
  const fusion =
    typeof options.fusion === 'object' ? options.fusion : registry.get(options.fusion ?? 'min_ce');
  const teachers: FusionTeacher[] = [
    { name: 'pivot', ...input.pivot },
    ...input.sources.map((source, index) => ({ name: `sources[${index}]`, ...source })),
  ];
  if (options.vocabSize !== undefined) {
    for (const teacher of teachers) {
      validateSparseDistributions(teacher.distributions, {
        vocabSize: options.vocabSize,
        name: `${teacher.name}.distributions`,
      });
    }
  }
  return fusion.fuse(teachers, {
    ...(options.k === undefined ? {} : { k: options.k }),
    ...(options.temperature === undefined ? {} : { temperature: options.temperature }),
  });
}
