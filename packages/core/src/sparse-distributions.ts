import { InvalidInputError, NumericalError } from './errors.js';

/**
 * Top-k next-token distributions of one token sequence, stored row-major as `[length, k]`.
 * Row `t` is the distribution that position `t` predicts for token `t + 1`. Slots that hold no
 * entry have id `-1` (their logit is ignored). Within a row, entries are sorted by descending
 * logit; when an id appears twice, the first occurrence is the one that counts.
 *
 * This is the exchange type of the whole pipeline: capture writes it, alignment re-indexes it
 * onto the pivot vocabulary, fusion picks between teachers and the loss consumes it.
 */
export interface SparseDistributions {
  /** Number of positions (rows). */
  readonly length: number;
  /** Entries per row. */
  readonly k: number;
  /** `length * k` token ids; `-1` marks an empty slot. */
  readonly ids: Int32Array;
  /** `length * k` logits (unnormalised; the teacher distribution is `softmax(logits / T)`). */
  readonly logits: Float32Array;
}

/** Id of an empty slot in {@link SparseDistributions}. */
export const EMPTY_SLOT = -1;

/**
 * Allocates `length` empty rows of `k` slots.
 *
 * @example
 * ```ts
 * const d = createSparseDistributions(3, 10);
 * setRow(d, 0, [5, 7], [2.5, 1.0]);
 * ```
 */
export function createSparseDistributions(length: number, k: number): SparseDistributions {
  if (!Number.isInteger(length) || length < 0)
    throw new InvalidInputError(`length must be an integer ≥ 0, got ${length}`);
  if (!Number.isInteger(k) || k < 1) throw new InvalidInputError(`k must be an integer ≥ 1, got ${k}`);
  const ids = new Int32Array(length * k).fill(EMPTY_SLOT);
  const logits = new Float32Array(length * k).fill(Number.NEGATIVE_INFINITY);
  return { length, k, ids, logits };
}

/** Writes one row (at most `k` entries; the rest of the row becomes empty). */
export function setRow(
  distributions: SparseDistributions,
  position: number,
  ids: ArrayLike<number>,
  logits: ArrayLike<number>,
): void {
  const { k } = distributions;
  if (ids.length !== logits.length) {
    throw new InvalidInputError(`row ${position}: ${ids.length} ids but ${logits.length} logits`);
  }
  if (ids.length > k) throw new InvalidInputError(`row ${position}: ${ids.length} entries exceed k = ${k}`);
  const base = position * k;
  for (let slot = 0; slot < k; slot++) {
    distributions.ids[base + slot] = slot < ids.length ? ids[slot]! : EMPTY_SLOT;
    distributions.logits[base + slot] = slot < ids.length ? logits[slot]! : Number.NEGATIVE_INFINITY;
  }
}

/** The non-empty entries of one row, in stored order. */
export function getRow(
  distributions: SparseDistributions,
  position: number,
): { ids: number[]; logits: number[] } {
  const { k } = distributions;
  const ids: number[] = [];
  const logits: number[] = [];
  for (let slot = 0; slot < k; slot++) {
    const id = distributions.ids[position * k + slot]!;
    if (id === EMPTY_SLOT) continue;
    ids.push(id);
    logits.push(distributions.logits[position * k + slot]!);
  }
  return { ids, logits };
}

/**
 * Checks internal consistency and, when given, that ids fit a vocabulary. Throws an
 * {@link InvalidInputError} or {@link NumericalError} naming the row; returns the value.
 */
export function validateSparseDistributions(
  distributions: SparseDistributions,
  options: { vocabSize?: number; name?: string } = {},
): SparseDistributions {
  const name = options.name ?? 'distributions';
  const { length, k, ids, logits } = distributions;
  if (ids.length !== length * k || logits.length !== length * k) {
    throw new InvalidInputError(
      `${name}: expected ${length}×${k} = ${length * k} ids and logits, got ${ids.length} ids and ${logits.length} logits`,
      { code: 'SPARSE_SHAPE' },
    );
  }
  for (let index = 0; index < ids.length; index++) {
    const id = ids[index]!;
    if (id === EMPTY_SLOT) continue;
    if (id < 0 || (options.vocabSize !== undefined && id >= options.vocabSize)) {
      throw new InvalidInputError(
        `${name}: row ${Math.floor(index / k)} holds token id ${id}, outside the vocabulary [0, ${options.vocabSize ?? '∞'})`,
        { code: 'TOKEN_ID_OUT_OF_RANGE', details: { row: Math.floor(index / k), id } },
      );
    }
    if (Number.isNaN(logits[index]!) || logits[index] === Number.POSITIVE_INFINITY) {
      throw new NumericalError(
        `${name}: row ${Math.floor(index / k)} has a ${logits[index]} logit for token ${id}`,
        {
          tensorName: name,
          details: { row: Math.floor(index / k), id },
        },
      );
    }
  }
  return distributions;
}
