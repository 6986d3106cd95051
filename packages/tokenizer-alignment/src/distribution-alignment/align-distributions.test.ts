import {
  type CaptureRecord,
  createSparseDistributions,
  getRow,
  type SparseDistributions,
  setRow,
} from '@fusechat/core';
import { describe, expect, it } from 'vitest';
import { mobyDick, realTokenizer } from '../test-fixtures.js';
import { buildVocabularyMap } from '../vocabulary-mapping/build-vocabulary-map.js';
import { alignCaptureRecord, tokenStrings } from './align-capture-record.js';
import { alignDistributions } from './align-distributions.js';

function rows(entries: [number[], number[]][], k = 3): SparseDistributions {
  const distributions = createSparseDistributions(entries.length, k);
  entries.forEach(([ids, logits], position) => {
    setRow(distributions, position, ids, logits);
  });
  return distributions;
}
const allRows = (d: SparseDistributions) => Array.from({ length: d.length }, (_, i) => getRow(d, i));

describe('alignDistributions', () => {
  // Source ids 0..4 map to pivot ids 10..14; source ids 5 and 6 both map to pivot 11.
  const sourceToPivot = Int32Array.from([10, 11, 12, 13, 14, 11, 11]);

  it('|J| = 1 with a suffix match: maps ids, keeps the first entry per pivot id', () => {
    const { distributions, origins } = alignDistributions({
      source: {
        tokens: ['Ġthe', 'Ġcat'],
        distributions: rows([
          [
            [1, 5, 2],
            [3, 2, 1],
          ],
          [
            [6, 1, 0],
            [9, 8, 7],
          ],
        ]),
        marker: 'byte-level',
      },
      pivot: { tokens: ['▁the', 'cat'], inputIds: [20, 21], marker: 'sentencepiece' },
      sourceToPivot,
      alignment: [[0], [1]],
    });
    expect(origins).toEqual(['mapped', 'mapped']);
    // Row 0: ids 1 and 5 both map to 11 → the first (logit 3) stays; '▁cat'.endsWith('cat').
    expect(allRows(distributions)).toEqual([
      { ids: [11, 12], logits: [3, 1] },
      { ids: [11, 10], logits: [9, 7] },
    ]);
  });

  it('|J| = 1 without a suffix match: one-hot on the gold next pivot token, never the current one', () => {
    const { distributions, origins } = alignDistributions({
      source: {
        tokens: ['Ġdog', 'Ġx'],
        distributions: rows([
          [[1], [3]],
          [[2], [1]],
        ]),
        marker: 'byte-level',
      },
      pivot: { tokens: ['▁cat', '▁y'], inputIds: [20, 21], marker: 'sentencepiece' },
      sourceToPivot,
      alignment: [[0], [1]],
    });
    expect(origins).toEqual(['one-hot', 'pivot']);
    expect(allRows(distributions)).toEqual([
      { ids: [21], logits: [1] },
      { ids: [], logits: [] },
    ]);
  });

  it('|J| = 1 compares marker-swapped strings, |J| > 1 marker-stripped ones', () => {
    const source = rows([
      [[0], [1]],
      [[1], [2]],
      [[2], [3]],
    ]);
    // 'catĠ' → 'cat▁' neither ends with 'cat' nor the reverse (stripped, both would be 'cat').
    const single = alignDistributions({
      source: { tokens: ['catĠ', 'Ġx', 'Ġy'], distributions: source, marker: 'byte-level' },
      pivot: { tokens: ['cat', '▁x', '▁y'], inputIds: [20, 21, 22], marker: 'sentencepiece' },
      sourceToPivot,
      alignment: [[0], [1], [2]],
    });
    expect(single.origins).toEqual(['one-hot', 'mapped', 'mapped']);
    expect(allRows(single.distributions)[0]).toEqual({ ids: [21], logits: [1] });
    // Pivot '▁' strips to '' and so matches the first of J; marker-swapped, '▁x' and '▁' would not.
    const several = alignDistributions({
      source: { tokens: ['Ġx', 'Ġy', 'Ġz'], distributions: source, marker: 'byte-level' },
      pivot: { tokens: ['▁', '▁z'], inputIds: [20, 21], marker: 'sentencepiece' },
      sourceToPivot,
      alignment: [[0, 1], [2]],
    });
    expect(several.origins).toEqual(['mapped', 'mapped']);
    expect(allRows(several.distributions)).toEqual([
      { ids: [10], logits: [1] },
      { ids: [12], logits: [3] },
    ]);
  });

  it('|J| > 1: first source position whose stripped token ends like the pivot token (or the reverse)', () => {
    const source = rows([
      [[0], [1]],
      [[1], [2]],
      [[2], [3]],
      [[3], [4]],
    ]);
    const base = {
      source: { tokens: ['Ġwh', 'ale', 'Ġa', 'Ġb'], distributions: source, marker: 'byte-level' as const },
      sourceToPivot,
    };
    const matched = alignDistributions({
      ...base,
      pivot: { tokens: ['▁whale', '▁b'], inputIds: [20, 21], marker: 'sentencepiece' },
      alignment: [
        [0, 1],
        [2, 3],
      ],
    });
    // 'whale'.endsWith('ale') → position 1; for '▁b' vs ['Ġa','Ġb'] → position 3.
    expect(allRows(matched.distributions)).toEqual([
      { ids: [11], logits: [2] },
      { ids: [13], logits: [4] },
    ]);
    const unmatched = alignDistributions({
      ...base,
      pivot: { tokens: ['▁xyz', '▁b', '▁c'], inputIds: [20, 21, 22], marker: 'sentencepiece' },
      alignment: [[0, 1], [2], [3]],
    });
    expect(unmatched.origins).toEqual(['one-hot', 'one-hot', 'pivot']); // the last position has no next token
    expect(allRows(unmatched.distributions)[0]).toEqual({ ids: [21], logits: [1] });
    // An empty stripped source token ('Ġ') matches anything.
    const empty = alignDistributions({
      ...base,
      source: { ...base.source, tokens: ['Ġ', 'ale', 'Ġa', 'Ġb'] },
      pivot: { tokens: ['▁xyz', '▁b'], inputIds: [20, 21], marker: 'sentencepiece' },
      alignment: [
        [0, 1],
        [2, 3],
      ],
    });
    expect(allRows(empty.distributions)[0]).toEqual({ ids: [10], logits: [1] });
  });

  it('falls back to the pivot row for positions with no entries; output k = max of both', () => {
    const pivotRows = rows(
      [
        [
          [1, 2, 3, 4],
          [4, 3, 2, 1],
        ],
        [
          [5, 6],
          [2, 1],
        ],
      ],
      4,
    );
    const { distributions, origins } = alignDistributions({
      source: {
        tokens: ['Ġa', 'Ġb'],
        distributions: rows(
          [
            [[], []],
            [[1], [1]],
          ],
          2,
        ),
        marker: 'byte-level',
      },
      pivot: { tokens: ['▁a', '▁c'], inputIds: [20, 21], distributions: pivotRows, marker: 'sentencepiece' },
      sourceToPivot,
      alignment: [[0], [1]],
    });
    expect(distributions.k).toBe(4);
    expect(origins).toEqual(['pivot', 'pivot']);
    expect(allRows(distributions)).toEqual(allRows(pivotRows));
  });

  it('empty inputs give empty outputs; mismatched shapes are refused', () => {
    const empty = alignDistributions({
      source: { tokens: [], distributions: createSparseDistributions(0, 2), marker: 'byte-level' },
      pivot: { tokens: [], inputIds: [], marker: 'sentencepiece' },
      sourceToPivot,
    });
    expect(empty.distributions.length).toBe(0);
    expect(() =>
      alignDistributions({
        source: { tokens: ['a'], distributions: createSparseDistributions(2, 2), marker: 'byte-level' },
        pivot: { tokens: ['a'], inputIds: [1], marker: 'sentencepiece' },
        sourceToPivot,
      }),
    ).toThrow(expect.objectContaining({ code: 'ALIGNMENT_SHAPE_MISMATCH' }));
    expect(() =>
      alignDistributions({
        source: { tokens: ['Ġa'], distributions: rows([[[99], [1]]]), marker: 'byte-level' },
        pivot: { tokens: ['▁a'], inputIds: [1], marker: 'sentencepiece' },
        sourceToPivot,
      }),
    ).toThrow(expect.objectContaining({ code: 'ALIGNMENT_UNKNOWN_TOKEN' }));
  });

  it('re-indexes real records (Llama 3 → Mistral) and refuses a map of other tokenizers', async () => {
    const [llama, mistral, qwen] = await Promise.all([
      realTokenizer('llama3'),
      realTokenizer('mistral'),
      realTokenizer('qwen3'),
    ]);
    const map = await buildVocabularyMap(llama, mistral, { method: 'exact' });
    const text = mobyDick(7).slice(0, 800);
    const record = (ids: number[], k: number): CaptureRecord => {
      const topK = createSparseDistributions(ids.length, k);
      // A "model" that predicts the next token with logit 5, then a few fixed ids.
      for (let t = 0; t < ids.length; t++) {
        const last = t + 1 === ids.length;
        setRow(topK, t, last ? [13] : [ids[t + 1]!, 13, 14], last ? [1] : [5, 1, 0]);
      }
      return {
        id: 'ex',
        inputIds: Int32Array.from(ids),
        labelMask: new Uint8Array(ids.length).fill(1),
        topK,
        ce: 1,
      };
    };
    const sourceRecord = record(llama.encode(text), 3);
    const pivotRecord = record(mistral.encode(text), 3);
    const { distributions, origins } = alignCaptureRecord(sourceRecord, pivotRecord, {
      source: llama,
      pivot: mistral,
      vocabularyMap: map,
    });
    expect(distributions.length).toBe(pivotRecord.inputIds.length);
    // Wherever a source row was mapped, the gold next pivot token is usually its top entry.
    const mapped = origins.filter((origin) => origin === 'mapped').length;
    expect(mapped).toBeGreaterThan(origins.length * 0.6);
    const oneHot = origins.flatMap((origin, i) => (origin === 'one-hot' ? [i] : []));
    for (const i of oneHot)
      expect(getRow(distributions, i)).toEqual({ ids: [pivotRecord.inputIds[i + 1]], logits: [1] });
    expect(() =>
      alignCaptureRecord(sourceRecord, pivotRecord, { source: qwen, pivot: mistral, vocabularyMap: map }),
    ).toThrow(expect.objectContaining({ code: 'VOCAB_MAP_HASH_MISMATCH' }));
    expect(() => tokenStrings(mistral, [1, 99999], 'pivot')).toThrow(
      expect.objectContaining({ code: 'ALIGNMENT_UNKNOWN_TOKEN' }),
    );
  });
});
