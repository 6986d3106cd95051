import { InvalidInputError } from '@fusechat/core';
import type { AlignedRowOrigin } from './align-distributions.js';

/**
 * How one pivot position got its target distribution (DESIGN.md §3, re-indexing):
 * - `one-to-one`: exactly one aligned source position, whose token ends like the pivot token (or
 *   the reverse), mapped through the vocabulary map;
 * - `many-to-one`: several aligned source positions, the first matching one mapped;
 * - `one-hot`: no aligned source token matches, so a one-hot on the gold next pivot token;
 * - `pivot-fallback`: the row was left with no entries (the last position, an empty source row,
 *   no alignment) and takes the pivot's own distribution.
 */
export type AlignedPositionRule = 'one-to-one' | 'many-to-one' | 'one-hot' | 'pivot-fallback';

/** The rules in the order reports list them. */
export const ALIGNED_POSITION_RULES: readonly AlignedPositionRule[] = [
  'one-to-one',
  'many-to-one',
  'one-hot',
  'pivot-fallback',
];

/**
 * The rule of every pivot position, from what {@link alignDistributions} did there (its
 * `origins`) and the alignment it used: the matching itself happens only in the re-indexer, so a
 * report and the aligned store can never disagree on it. A `mapped` row is `one-to-one` when one
 * source position was aligned to it and `many-to-one` when several were.
 *
 * @throws InvalidInputError `ALIGNMENT_SHAPE_MISMATCH` when the lengths differ, or a `mapped` row
 *   has no aligned source position (the origins come from another alignment).
 * @example
 * ```ts
 * const alignment = dtwAlign(sourceTokens, pivotTokens, markers);
 * const { origins } = alignDistributions({ source, pivot, sourceToPivot, alignment });
 * alignedPositionRules(alignment, origins); // ['one-to-one', 'many-to-one', …, 'pivot-fallback']
 * ```
 */
export function alignedPositionRules(
  alignment: readonly (readonly number[])[] | undefined,
  origins: readonly AlignedRowOrigin[],
): AlignedPositionRule[] {
  if (alignment !== undefined && alignment.length !== origins.length) {
    throw new InvalidInputError(
      `alignment has ${alignment.length} rows but there are ${origins.length} origins; pass the alignment the re-indexer used`,
      { code: 'ALIGNMENT_SHAPE_MISMATCH', details: { alignment: alignment.length, origins: origins.length } },
    );
  }
  return origins.map((origin, position) => {
    if (origin === 'one-hot') return 'one-hot';
    if (origin === 'pivot') return 'pivot-fallback';
    const aligned = alignment?.[position]?.length ?? 0;
    if (aligned === 0) {
      throw new InvalidInputError(
        `pivot position ${position} was mapped from the source but has no aligned source position; pass the alignment the re-indexer used`,
        { code: 'ALIGNMENT_SHAPE_MISMATCH', details: { position } },
      );
    }
    return aligned === 1 ? 'one-to-one' : 'many-to-one';
  });
}
