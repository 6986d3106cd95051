import {
  createSparseDistributions,
  EMPTY_SLOT,
  InvalidInputError,
  ShapeMismatchError,
  type SparseDistributions,
} from '@fusechat/core';
import { alignTokens, type TokenAlignmentMethod } from '../sequence-alignment/align-tokens.js';
import {
  resolveSpaceMarker,
  type SpaceMarkerOption,
  stripSpaceMarker,
  swapSpaceMarker,
} from '../token-strings/space-marker.js';

/** Logit of the single entry of a one-hot target (any value: a one-entry softmax is 1). */
export const ONE_HOT_LOGIT = 1;

export interface AlignDistributionsInput {
  readonly source: {
    /** Vocabulary strings of the source sequence. */
    readonly tokens: readonly string[];
    /** The source model's top-k rows, one per source position. */
    readonly distributions: SparseDistributions;
    readonly marker: SpaceMarkerOption;
  };
  readonly pivot: {
    readonly tokens: readonly string[];
    /** Pivot token ids of the same sequence (the gold next token of position `i` is `inputIds[i + 1]`). */
    readonly inputIds: ArrayLike<number>;
    /** The pivot's own top-k rows: the fallback of positions left with no entries. */
    readonly distributions?: SparseDistributions | undefined;
    readonly marker: SpaceMarkerOption;
  };
  /** `sourceToPivot[sourceId]` = pivot id (e.g. `VocabularyMap.sourceToPivot`). */
  readonly sourceToPivot: Int32Array;
  /** Precomputed alignment (per pivot position, ascending source positions). */
  readonly alignment?: readonly (readonly number[])[] | undefined;
  /** How to align when no `alignment` is given (default `dtw`). */
  readonly alignmentMethod?: TokenAlignmentMethod | undefined;
}

/** Why each pivot row got its entries (for diagnostics and tests). */
export type AlignedRowOrigin = 'mapped' | 'one-hot' | 'pivot';

/**
 * Re-indexes a source model's top-k distributions onto pivot positions and pivot ids
 * (DESIGN.md §3). For pivot position `i` aligned to source positions `J`:
 * - `|J| = 1` and one marker-swapped string ends with the other → the source row, ids mapped
 *   through `sourceToPivot`, first (highest-logit) entry per pivot id kept;
 * - `|J| > 1` → the first source position of `J` whose marker-stripped token ends like the pivot
 *   token or the reverse (an empty stripped string matches), mapped the same way;
 * - otherwise a one-hot on the gold next pivot token `inputIds[i + 1]`;
 * - a row left with no entries (the last position, an empty source row) takes the pivot's own
 *   row when `pivot.distributions` is given.
 * The result has `k = max(source k, pivot k)`. Empty inputs give empty outputs.
 *
 * @example
 * ```ts
 * const { distributions } = alignDistributions({
 *   source: { tokens: qwenTokens, distributions: qwenTopK, marker: 'byte-level' },
 *   pivot: { tokens: mistralTokens, inputIds: mistralIds, distributions: mistralTopK, marker: 'sentencepiece' },
 *   sourceToPivot: map.sourceToPivot,
 * });
 * ```
 */
export function alignDistributions(input: AlignDistributionsInput): {
  distributions: SparseDistributions;
  origins: AlignedRowOrigin[];
} {
  const { source, pivot, sourceToPivot } = input;
  const sourceMarker = resolveSpaceMarker(source.marker, 'source.marker');
  const pivotMarker = resolveSpaceMarker(pivot.marker, 'pivot.marker');
  const n = source.tokens.length;
  const m = pivot.tokens.length;
  const sourceK = source.distributions.k;
  if (source.distributions.length !== n) {
    throw new ShapeMismatchError(
      `source has ${n} tokens but ${source.distributions.length} distribution rows`,
      {
        code: 'ALIGNMENT_SHAPE_MISMATCH',
        tensorName: 'source.distributions',
        expectedShape: [n, sourceK],
        actualShape: [source.distributions.length, sourceK],
      },
    );
  }
  if (pivot.inputIds.length !== m) {
    throw new ShapeMismatchError(`pivot has ${m} tokens but ${pivot.inputIds.length} input ids`, {
      code: 'ALIGNMENT_SHAPE_MISMATCH',
      tensorName: 'pivot.inputIds',
      expectedShape: [m],
      actualShape: [pivot.inputIds.length],
    });
  }
  if (pivot.distributions !== undefined && pivot.distributions.length !== m) {
    throw new ShapeMismatchError(
      `pivot has ${m} tokens but ${pivot.distributions.length} distribution rows`,
      {
        code: 'ALIGNMENT_SHAPE_MISMATCH',
        tensorName: 'pivot.distributions',
        expectedShape: [m, pivot.distributions.k],
        actualShape: [pivot.distributions.length, pivot.distributions.k],
      },
    );
  }
  const k = Math.max(sourceK, pivot.distributions?.k ?? 1);
  const output = createSparseDistributions(m, k);
  const origins: AlignedRowOrigin[] = new Array(m).fill('pivot');
  if (m === 0) return { distributions: output, origins };
  const alignment =
    n === 0
      ? undefined
      : (input.alignment ??
        alignTokens(source.tokens, pivot.tokens, {
          sourceMarker,
          pivotMarker,
          method: input.alignmentMethod,
        }));
  if (alignment !== undefined && alignment.length !== m) {
    throw new ShapeMismatchError(`alignment has ${alignment.length} rows for ${m} pivot tokens`, {
      code: 'ALIGNMENT_SHAPE_MISMATCH',
      tensorName: 'alignment',
      expectedShape: [m],
      actualShape: [alignment.length],
    });
  }

  const copySourceRow = (row: number, position: number): void => {
    let filled = 0;
    const base = position * k;
    for (let slot = 0; slot < sourceK; slot++) {
      const sourceId = source.distributions.ids[row * sourceK + slot]!;
      if (sourceId === EMPTY_SLOT) continue;
      const pivotId = sourceToPivot[sourceId];
      if (pivotId === undefined || pivotId < 0) {
        throw new InvalidInputError(
          `source row ${row} holds token id ${sourceId}, which the vocabulary map does not cover`,
          {
            code: 'ALIGNMENT_UNKNOWN_TOKEN',
            details: { row, id: sourceId },
          },
        );
      }
      let seen = false;
      for (let earlier = 0; earlier < filled; earlier++) {
        if (output.ids[base + earlier] === pivotId) {
          seen = true;
          break;
        }
      }
      if (seen) continue;
      output.ids[base + filled] = pivotId;
      output.logits[base + filled] = source.distributions.logits[row * sourceK + slot]!;
      filled++;
    }
  };

  for (let i = 0; i < m; i++) {
    const positions = alignment?.[i] ?? [];
    let chosen = -1;
    if (positions.length === 1) {
      const sourceToken = swapSpaceMarker(
        checkPosition(source.tokens, positions[0]!, i),
        sourceMarker,
        pivotMarker,
      );
      const pivotToken = pivot.tokens[i]!;
      if (sourceToken.endsWith(pivotToken) || pivotToken.endsWith(sourceToken)) chosen = positions[0]!;
    } else if (positions.length > 1) {
      const pivotStripped = stripSpaceMarker(pivot.tokens[i]!, pivotMarker);
      for (const position of positions) {
        const sourceStripped = stripSpaceMarker(checkPosition(source.tokens, position, i), sourceMarker);
        if (pivotStripped.endsWith(sourceStripped) || sourceStripped.endsWith(pivotStripped)) {
          chosen = position;
          break;
        }
      }
    }
    if (positions.length > 0) {
      if (chosen >= 0) {
        copySourceRow(chosen, i);
        origins[i] = 'mapped';
      } else if (i + 1 < m) {
        output.ids[i * k] = pivot.inputIds[i + 1]!;
        output.logits[i * k] = ONE_HOT_LOGIT;
        origins[i] = 'one-hot';
      }
    }
    if (output.ids[i * k] === EMPTY_SLOT) {
      origins[i] = 'pivot';
      if (pivot.distributions !== undefined) {
        const pivotK = pivot.distributions.k;
        for (let slot = 0; slot < pivotK; slot++) {
          output.ids[i * k + slot] = pivot.distributions.ids[i * pivotK + slot]!;
          output.logits[i * k + slot] = pivot.distributions.logits[i * pivotK + slot]!;
        }
      }
    }
  }
  return { distributions: output, origins };
}

function checkPosition(tokens: readonly string[], position: number, pivotPosition: number): string {
  const token = tokens[position];
  if (token === undefined) {
    throw new InvalidInputError(
      `alignment row ${pivotPosition} names source position ${position}, outside the source sequence`,
      {
        code: 'ALIGNMENT_SHAPE_MISMATCH',
      },
    );
  }
  return token;
}
