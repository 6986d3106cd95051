import {
  InvalidInputError,
  ShapeMismatchError,
  type SparseDistributions,
  validateSparseDistributions,
} from '@fusechat/core';

/** One teacher of one example: its distributions on pivot positions and ids, and its CE. */
export interface FusionTeacher {
  /** For messages and reports (`pivot`, a source model name…). */
  readonly name?: string;
  /** Top-k distributions re-indexed onto the pivot's positions and vocabulary. */
  readonly distributions: SparseDistributions;
  /** Mean cross-entropy (nats) of this teacher on the example's gold response; NaN = unknown. */
  readonly ce: number;
}

/** Options passed to every fusion function. */
export interface FusionOptions {
  /** Slots per position in the fused output (entries beyond it are dropped). */
  readonly k?: number;
  /**
   * Distillation temperature (FuseChat's `distill_temperature`, default 1). Each teacher's row is
   * tempered — `softmax(logits / T)` over its kept entries — *before* the teachers are picked or
   * mixed, as FuseChat's collator does; the fused output is the final target, which the loss
   * applies at temperature 1. {@link defineFusionFunction} does the tempering: a definition's
   * `fuse` sees tempered teachers and never this option.
   */
  readonly temperature?: number;
}

/** The fused target of one example. */
export interface FusionResult {
  /**
   * One row per pivot position, the final (already tempered) target: the loss uses
   * `softmax(logits)` over each row's kept entries, at temperature 1.
   */
  readonly distributions: SparseDistributions;
  /** How much each teacher contributed (same order as the input; sums to 1). */
  readonly teacherWeights: readonly number[];
}

/**
 * A way to fuse the teachers of one example into one sparse target (DESIGN.md §3). `teachers[0]`
 * is always the pivot, followed by the aligned sources. Implementations are pure functions of
 * their input; build them with {@link defineFusionFunction} so inputs and outputs are checked.
 */
export interface FusionFunction {
  /** Registry name, snake_case (`min_ce`). */
  readonly name: string;
  /** One line for `--help` and docs. */
  readonly description: string;
  fuse(teachers: readonly FusionTeacher[], options?: FusionOptions): FusionResult;
}

/**
 * What {@link defineFusionFunction} needs: the core `fuse`, which may trust its (checked and
 * already tempered) input. Its options carry `k` only.
 */
export interface FusionFunctionDefinition {
  readonly name: string;
  readonly description: string;
  fuse(teachers: readonly FusionTeacher[], options: Omit<FusionOptions, 'temperature'>): FusionResult;
}

/** `pivot`, `sources[0]`, … or the teacher's own name. */
export function teacherLabel(teachers: readonly FusionTeacher[], index: number): string {
  return teachers[index]?.name ?? (index === 0 ? 'pivot' : `sources[${index - 1}]`);
}

/**
 * Builds a {@link FusionFunction} whose `fuse` validates its input before calling yours — at least
 * one teacher (the pivot first), all with the same number of positions, consistent sparse
 * distributions without NaN/+∞ logits, CEs that are ≥ 0, +∞ or NaN, `k` a positive integer,
 * `temperature` finite and > 0 — tempers the teachers (`logits / T`, so that each teacher's
 * distribution is `softmax(logits / T)` over its kept entries) and checks your output (one row
 * per position, one weight per teacher). Your `fuse` therefore works at temperature 1 only.
 *
 * @example
 * ```ts
 * const pivotOnly = defineFusionFunction({
 *   name: 'pivot_only',
 *   description: 'Always the pivot (a baseline).',
 *   fuse: (teachers) => ({ distributions: teachers[0]!.distributions, teacherWeights: teachers.map((_, i) => (i === 0 ? 1 : 0)) }),
 * });
 * const registry = createFusionRegistry({ ...builtinFusionFunctions, pivot_only: pivotOnly });
 * ```
 */
export function defineFusionFunction(definition: FusionFunctionDefinition): FusionFunction {
  const { name, description } = definition;
  if (typeof name !== 'string' || !/^[a-z][a-z0-9_]*$/.test(name)) {
    throw new InvalidInputError(
      `fusion function name must be snake_case ([a-z][a-z0-9_]*), got ${JSON.stringify(name)}`,
      {
        field: 'name',
      },
    );
  }
  if (typeof definition.fuse !== 'function') {
    throw new InvalidInputError(`fusion function "${name}" needs a fuse(teachers, options) function`, {
      field: 'fuse',
    });
  }
  return {
    name,
    description,
    fuse(teachers, options = {}) {
      validateTeachers(name, teachers, options);
      const temperature = options.temperature ?? 1;
      const result = definition.fuse(
        temperature === 1 ? teachers : teachers.map((teacher) => temperTeacher(teacher, temperature)),
        options.k === undefined ? {} : { k: options.k },
      );
      const length = teachers[0]!.distributions.length;
      if (result?.distributions?.length !== length) {
        throw new ShapeMismatchError(
          `fusion function "${name}" returned ${result?.distributions?.length} positions for ${length} pivot positions`,
          {
            tensorName: 'fused',
            expectedShape: [length],
            actualShape: [result?.distributions?.length ?? -1],
          },
        );
      }
      if (result.teacherWeights.length !== teachers.length) {
        throw new InvalidInputError(
          `fusion function "${name}" returned ${result.teacherWeights.length} teacher weights for ${teachers.length} teachers`,
        );
      }
      return result;
    },
  };
}

/**
 * The teacher with its logits divided by `temperature`. FuseChat tempers each teacher's row on its
 * own before anything mixes them (FuseChat/train/data_collator.py, `DataCollatorForFuse.__call__`:
 * `softmax(logits / fuse_temperature)` per teacher and position, then trainer.py picks or mixes
 * the resulting distributions and applies the CE at temperature 1).
 */
function temperTeacher(teacher: FusionTeacher, temperature: number): FusionTeacher {
  const { ids, k, length } = teacher.distributions;
  const logits = new Float32Array(teacher.distributions.logits.length);
  for (let index = 0; index < logits.length; index++) {
    logits[index] =
      ids[index] === -1 ? Number.NEGATIVE_INFINITY : teacher.distributions.logits[index]! / temperature;
  }
  return { ...teacher, distributions: { length, k, ids, logits } };
}

function validateTeachers(name: string, teachers: readonly FusionTeacher[], options: FusionOptions): void {
  if (!Array.isArray(teachers) || teachers.length === 0) {
    throw new InvalidInputError(`fusion "${name}" needs at least one teacher (the pivot)`, {
      field: 'teachers',
    });
  }
  if (options.k !== undefined && !(Number.isInteger(options.k) && options.k >= 1)) {
    throw new InvalidInputError(`k must be an integer ≥ 1, got ${options.k}`, { field: 'k' });
  }
  const { temperature } = options;
  if (
    temperature !== undefined &&
    !(typeof temperature === 'number' && Number.isFinite(temperature) && temperature > 0)
  ) {
    throw new InvalidInputError(`temperature must be a finite number > 0, got ${temperature}`, {
      field: 'temperature',
    });
  }
  const length = teachers[0]!.distributions?.length;
  teachers.forEach((teacher, index) => {
    const label = teacherLabel(teachers, index);
    if (teacher?.distributions === undefined) {
      throw new InvalidInputError(`${label} has no distributions`, {
        field: `teachers[${index}].distributions`,
      });
    }
    validateSparseDistributions(teacher.distributions, { name: `${label}.distributions` });
    if (teacher.distributions.length !== length) {
      throw new ShapeMismatchError(
        `${label} has ${teacher.distributions.length} positions but the pivot has ${length}: align every source onto the pivot first`,
        {
          tensorName: `${label}.distributions`,
          expectedShape: [length],
          actualShape: [teacher.distributions.length],
        },
      );
    }
    const { ce } = teacher;
    if (typeof ce !== 'number' || ce < 0) {
      throw new InvalidInputError(
        `${label}.ce must be a cross-entropy ≥ 0 (or NaN when unknown), got ${ce}`,
        {
          field: `teachers[${index}].ce`,
        },
      );
    }
  });
}
