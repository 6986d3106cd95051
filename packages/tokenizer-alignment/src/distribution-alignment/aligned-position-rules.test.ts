import {
  createSparseDistributions,
  getRow,
  isFuseChatError,
  type SparseDistributions,
  setRow,
} from '@fusechat/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { dtwAlign } from '../sequence-alignment/dtw/dtw-align.js';
import { alignDistributions, ONE_HOT_LOGIT } from './align-distributions.js';
import { alignedPositionRules } from './aligned-position-rules.js';

const markers = { sourceMarker: 'byte-level', pivotMarker: 'sentencepiece' } as const;

function rows(entries: readonly (readonly [number[], number[]])[], k = 2): SparseDistributions {
  const distributions = createSparseDistributions(entries.length, k);
  entries.forEach(([ids, logits], position) => {
    setRow(distributions, position, ids, logits);
  });
  return distributions;
}

/** Runs the re-indexer on DTW's alignment and classifies its rows, as the report does. */
function classify(
  sourceTokens: string[],
  pivotTokens: string[],
  sourceRows: SparseDistributions,
  pivotRows?: SparseDistributions,
) {
  const alignment = dtwAlign(sourceTokens, pivotTokens, markers);
  const result = alignDistributions({
    source: { tokens: sourceTokens, distributions: sourceRows, marker: 'byte-level' },
    pivot: {
      tokens: pivotTokens,
      inputIds: pivotTokens.map((_, index) => 100 + index),
      distributions: pivotRows,
      marker: 'sentencepiece',
    },
    sourceToPivot: Int32Array.from({ length: 50 }, (_, id) => id + 10),
    alignment,
  });
  return { alignment, ...result, rules: alignedPositionRules(alignment, result.origins) };
}

describe('alignedPositionRules', () => {
  it('a pivot token split into two source tokens is many-to-one, from the source token that ends like it', () => {
    // Hand-computed DTW: costs lev('Hel','Hello') = 2, lev('lo','Hello') = 3, lev('world','world') = 0;
    // D[3][2] = 0 + min(D[2][2] = 4 + 2, D[3][1] = 4 + 5, D[2][1] = 3 + 2) = 5, so '▁world' ← [2]
    // and the backtrack through (1,0) gives '▁Hello' ← [0, 1].
    const { alignment, rules, distributions } = classify(
      ['ĠHel', 'lo', 'Ġworld'],
      ['▁Hello', '▁world'],
      rows([
        [[1], [5]],
        [[2], [6]],
        [[3], [7]],
      ]),
    );
    expect(alignment).toEqual([[0, 1], [2]]);
    expect(rules).toEqual(['many-to-one', 'one-to-one']);
    // 'Hello' ends with 'lo' (not with 'Hel'): the second source row, id 2 → pivot 12.
    expect(getRow(distributions, 0)).toEqual({ ids: [12], logits: [6] });
    expect(getRow(distributions, 1)).toEqual({ ids: [13], logits: [7] });
  });

  it('a mismatch is a one-hot on the gold next pivot token; at the last position it falls back to the pivot', () => {
    const pivotRows = rows([
      [
        [7, 8],
        [2, 1],
      ],
      [[9], [3]],
      [[4], [1]],
    ]);
    const { alignment, rules, distributions } = classify(
      ['Ġcat', 'Ġsat', 'Ġdog'],
      ['▁cow', '▁sat', '▁hen'],
      rows([
        [[1], [5]],
        [[2], [6]],
        [[3], [7]],
      ]),
      pivotRows,
    );
    expect(alignment).toEqual([[0], [1], [2]]);
    expect(rules).toEqual(['one-hot', 'one-to-one', 'pivot-fallback']);
    expect(getRow(distributions, 0)).toEqual({ ids: [101], logits: [ONE_HOT_LOGIT] });
    expect(getRow(distributions, 2)).toEqual({ ids: [4], logits: [1] });
  });

  it('a matching source row without entries falls back to the pivot', () => {
    const { rules } = classify(
      ['Ġa', 'Ġb'],
      ['▁a', '▁b'],
      rows([
        [[], []],
        [[1], [1]],
      ]),
    );
    expect(rules).toEqual(['pivot-fallback', 'one-to-one']);
  });

  it('refuses origins of another alignment', () => {
    const mismatch = (run: () => unknown) => {
      try {
        run();
      } catch (error) {
        return isFuseChatError(error, 'ALIGNMENT_SHAPE_MISMATCH');
      }
      return false;
    };
    expect(mismatch(() => alignedPositionRules([[0]], ['mapped', 'pivot']))).toBe(true);
    expect(mismatch(() => alignedPositionRules([[0], []], ['mapped', 'mapped']))).toBe(true);
    expect(alignedPositionRules(undefined, ['pivot'])).toEqual(['pivot-fallback']);
  });

  it('property: every rule describes the row the re-indexer wrote', () => {
    const pieces = ['Ġthe', 'the', 'Ġca', 't', 'Ġcat', 'Ġ', 'a', 'Ġsat', 's', 'at', '.', 'Ġon'];
    const pivotPieces = ['▁the', 'the', '▁ca', 't', '▁cat', '▁', 'a', '▁sat', 's', 'at', '.', '▁on'];
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: pieces.length - 1 }), { minLength: 1, maxLength: 12 }),
        fc.array(fc.integer({ min: 0, max: pieces.length - 1 }), { minLength: 1, maxLength: 12 }),
        (sourceIndexes, pivotIndexes) => {
          const sourceTokens = sourceIndexes.map((index) => pieces[index]!);
          const pivotTokens = pivotIndexes.map((index) => pivotPieces[index]!);
          const sourceRows = rows(sourceIndexes.map((index) => [[index], [index + 0.5]]));
          const pivotRows = rows(pivotIndexes.map((index) => [[40 + index], [1]]));
          const { alignment, rules, distributions } = classify(
            sourceTokens,
            pivotTokens,
            sourceRows,
            pivotRows,
          );
          rules.forEach((rule, position) => {
            const row = getRow(distributions, position);
            const aligned = alignment[position]!;
            if (rule === 'one-hot')
              expect(row).toEqual({ ids: [100 + position + 1], logits: [ONE_HOT_LOGIT] });
            else if (rule === 'pivot-fallback') expect(row).toEqual(getRow(pivotRows, position));
            else {
              expect(aligned.length === 1).toBe(rule === 'one-to-one');
              // The row is one of the aligned source rows, mapped (+10).
              expect(aligned.map((source) => sourceIndexes[source]! + 10)).toContain(row.ids[0]);
            }
          });
        },
      ),
      { numRuns: 200, seed: 12 },
    );
  });
});
