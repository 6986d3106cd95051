import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { mobyDick, realTokenizer, stateOfTheUnion, tokensOf } from '../../test-fixtures.js';
import { dtwAlign } from './dtw-align.js';
import { createDtwAligner } from './dtw-aligner.js';

/** Straight transcription of DESIGN.md §3, written independently of the fast implementation. */
function referenceDtw(
  source: string[],
  pivot: string[],
  sourceMarker: string,
  pivotMarker: string,
): number[][] {
  const lev = (a: string, b: string): number => {
    const x = [...a];
    const y = [...b];
    const d: number[][] = [];
    for (let i = 0; i <= x.length; i++) {
      d.push([]);
      for (let j = 0; j <= y.length; j++) {
        if (i === 0) d[i]!.push(j);
        else if (j === 0) d[i]!.push(i);
        else
          d[i]!.push(
            Math.min(
              d[i - 1]![j]! + 1,
              d[i]![j - 1]! + 1,
              d[i - 1]![j - 1]! + (x[i - 1] === y[j - 1] ? 0 : 1),
            ),
          );
      }
    }
    return d[x.length]![y.length]!;
  };
  const costs = new Map<string, number>();
  const cost = (a: string, b: string): number => {
    const key = `${a}\u0000${b}`;
    let value = costs.get(key);
    if (value === undefined) {
      value = uncachedCost(a, b);
      costs.set(key, value);
    }
    return value;
  };
  const uncachedCost = (a: string, b: string): number => {
    const aa = a.split(sourceMarker).join('');
    const bb = b.split(pivotMarker).join('');
    if (aa === '' || bb === '') return lev(a.split(sourceMarker).join(pivotMarker), b);
    return lev(aa, bb);
  };
  const n = source.length;
  const m = pivot.length;
  // D[i][j] at D[i * (m + 1) + j]: one flat array, so that 2k × 2k texts fit.
  const width = m + 1;
  const D = new Float64Array((n + 1) * width).fill(Infinity);
  D[0] = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < m; j++) {
      D[(i + 1) * width + j + 1] =
        cost(source[i]!, pivot[j]!) +
        Math.min(D[i * width + j + 1]!, D[(i + 1) * width + j]!, D[i * width + j]!);
    }
  }
  const M = (i: number, j: number) => D[(i + 1) * width + j + 1]!;
  const result: number[][] = Array.from({ length: m }, () => []);
  let i = n - 1;
  let j = m - 1;
  while (i > 0 || j > 0) {
    result[j]!.unshift(i);
    const options = [
      i > 0 && j > 0 ? M(i - 1, j - 1) : Infinity,
      j > 0 ? M(i, j - 1) : Infinity,
      i > 0 ? M(i - 1, j) : Infinity,
    ];
    const move = options.indexOf(Math.min(...options));
    if (move === 0) {
      i--;
      j--;
    } else if (move === 1) j--;
    else i--;
  }
  result[0]!.unshift(0);
  return result;
}

const BL = { sourceMarker: 'byte-level', pivotMarker: 'sentencepiece' } as const;

describe('dtwAlign', () => {
  it('hand-checked: one pivot token split in two source tokens', () => {
    expect(dtwAlign(['ĠHello', 'Ġworld'], ['▁Hel', 'lo', '▁world'], BL)).toEqual([[0], [0], [1]]);
    expect(
      dtwAlign(['▁Hel', 'lo', '▁world'], ['ĠHello', 'Ġworld'], { sourceMarker: '▁', pivotMarker: 'Ġ' }),
    ).toEqual([[0, 1], [2]]);
  });

  it('hand-checked: ties prefer diag, then left (previous pivot), then up (previous source)', () => {
    // All costs are 1 ('a' vs 'b'): D = [[1,2],[2,2]]; from (1,1) diag (1) wins.
    expect(dtwAlign(['a', 'a'], ['b', 'b'], { sourceMarker: '▁', pivotMarker: '▁' })).toEqual([[0], [1]]);
    // From (1,2): diag (0,1)=2, left (1,1)=2, up (0,2)=3 → diag; from (0,1) → left to (0,0).
    expect(dtwAlign(['a', 'a'], ['b', 'b', 'b'], { sourceMarker: '▁', pivotMarker: '▁' })).toEqual([
      [0],
      [0],
      [1],
    ]);
    // Diag ties up: all costs 1, D = [[1,2],[2,2],[3,3]]; from (2,1) diag (1,0)=2 = up (1,1)=2 <
    // left (2,0)=3 → diag, then up to (0,0). Preferring up would give [[0], [1, 2]].
    expect(dtwAlign(['a', 'a', 'a'], ['b', 'b'], { sourceMarker: '▁', pivotMarker: '▁' })).toEqual([
      [0, 1],
      [2],
    ]);
    // Left ties up after diag loses: source a,b,a vs pivot b,a,b, D = [[1,1,2],[1,2,1],[2,1,2]];
    // from (2,2) diag (1,1)=2 > left (2,1)=1 = up (1,2)=1 → left; then diag to (1,0), up to (0,0).
    // Preferring up would give [[0], [0], [1, 2]].
    expect(dtwAlign(['a', 'b', 'a'], ['b', 'a', 'b'], { sourceMarker: '▁', pivotMarker: '▁' })).toEqual([
      [0, 1],
      [2],
      [2],
    ]);
  });

  it('hand-checked: empty stripped strings compare marker-swapped with raw', () => {
    // 'Ġ' strips to '' so cost('Ġ','▁') = lev('▁','▁') = 0 and cost('Ġ','▁a') = lev('▁','▁a') = 1.
    const aligner = createDtwAligner(BL);
    expect(aligner.cost('Ġ', '▁')).toBe(0);
    expect(aligner.cost('Ġ', '▁a')).toBe(1);
    expect(aligner.cost('Ġa', '▁')).toBe(1); // lev('▁a', '▁')
    expect(aligner.cost('Ġab', '▁ab')).toBe(0);
    // Code points: an emoji is one edit.
    expect(aligner.cost('😀a', 'a')).toBe(1);
    expect(aligner.cost('Ġ😀', '▁😃')).toBe(1);
  });

  it('equals the reference on random token sequences (property)', () => {
    const token = fc.stringMatching(/^[▁Ġab😀]{0,4}$/u);
    fc.assert(
      fc.property(
        fc.array(token, { minLength: 1, maxLength: 14 }),
        fc.array(token, { minLength: 1, maxLength: 14 }),
        fc.constantFrom(['Ġ', '▁'], ['▁', '▁'], ['▁', 'Ġ']),
        (source, pivot, [sourceMarker, pivotMarker]) => {
          expect(dtwAlign(source, pivot, { sourceMarker: sourceMarker!, pivotMarker: pivotMarker! })).toEqual(
            referenceDtw(source, pivot, sourceMarker!, pivotMarker!),
          );
        },
      ),
      { numRuns: 400 },
    );
  });

  it('equals the reference on long retokenisations of one text (property)', () => {
    // Two random segmentations of the same words, with markers, stray edits and newline tokens:
    // long enough (up to ~300 tokens) that the bands and the pruning decide the work.
    const word = fc.stringMatching(/^[a-e]{1,7}$/);
    const split = (text: string, cuts: number[]): string[] => {
      const pieces: string[] = [];
      let start = 0;
      for (const cut of cuts) {
        const at = 1 + (cut % Math.max(1, text.length - 1));
        if (at > start && at < text.length) {
          pieces.push(text.slice(start, at));
          start = at;
        }
      }
      pieces.push(text.slice(start));
      return pieces;
    };
    const tokenise = (words: string[], cuts: number[][], marker: string, newline: string): string[] =>
      words.flatMap((text, index) =>
        index % 17 === 16 ? [newline] : split(`${marker}${text}`, cuts[index % cuts.length]!),
      );
    fc.assert(
      fc.property(
        fc.array(word, { minLength: 1, maxLength: 120 }),
        fc.array(fc.array(fc.nat(8), { maxLength: 3 }), { minLength: 1, maxLength: 7 }),
        fc.array(fc.array(fc.nat(8), { maxLength: 3 }), { minLength: 1, maxLength: 7 }),
        fc.array(fc.tuple(fc.nat(), word), { maxLength: 6 }),
        (words, sourceCuts, pivotCuts, edits) => {
          const source = tokenise(words, sourceCuts, 'Ġ', 'Ċ');
          const pivot = tokenise(words, pivotCuts, '▁', '<0x0A>');
          for (const [at, text] of edits) source[at % source.length] = text;
          expect(dtwAlign(source, pivot, BL)).toEqual(referenceDtw(source, pivot, 'Ġ', '▁'));
        },
      ),
      { numRuns: 150 },
    );
  });

  it('self-alignment is the identity; paths are monotone and cover both sequences (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.stringMatching(/^[▁a-c]{1,3}$/), { minLength: 1, maxLength: 30 }), (tokens) => {
        expect(dtwAlign(tokens, tokens, { sourceMarker: '▁', pivotMarker: '▁' })).toEqual(
          tokens.map((_, i) => [i]),
        );
      }),
    );
    fc.assert(
      fc.property(
        fc.array(fc.stringMatching(/^[▁a-c]{0,3}$/), { minLength: 1, maxLength: 25 }),
        fc.array(fc.stringMatching(/^[Ġa-c]{0,3}$/), { minLength: 1, maxLength: 25 }),
        (source, pivot) =>
          expectMonotoneCover(
            dtwAlign(source, pivot, { sourceMarker: '▁', pivotMarker: 'Ġ' }),
            source.length,
          ),
      ),
    );
  });

  it('equals the reference on real text between three real vocabularies', async () => {
    const [mistral, qwen, llama] = await Promise.all([
      realTokenizer('mistral'),
      realTokenizer('qwen3'),
      realTokenizer('llama3'),
    ]);
    const texts = [
      mobyDick(1).slice(0, 1500),
      stateOfTheUnion(3).slice(2000, 3200),
      mobyDick(42).slice(500, 1700),
    ];
    const pairs = [
      [qwen, mistral],
      [mistral, llama],
      [llama, qwen],
    ] as const;
    for (const text of texts) {
      for (const [source, pivot] of pairs) {
        const s = tokensOf(source, source.encode(text));
        const p = tokensOf(pivot, pivot.encode(text));
        const options = { sourceMarker: source.spaceMarker, pivotMarker: pivot.spaceMarker };
        const fast = dtwAlign(s, p, options);
        expect(fast).toEqual(
          referenceDtw(
            s,
            p,
            options.sourceMarker === 'byte-level' ? 'Ġ' : '▁',
            options.pivotMarker === 'byte-level' ? 'Ġ' : '▁',
          ),
        );
        expectMonotoneCover(fast, s.length);
        expect(dtwAlign(p, p, { sourceMarker: pivot.spaceMarker, pivotMarker: pivot.spaceMarker })).toEqual(
          p.map((_, i) => [i]),
        );
      }
    }
  });

  it('equals the reference on 2k-token texts (Qwen3 and Llama 3 → Mistral, and back)', {
    timeout: 120_000,
  }, async () => {
    const [mistral, qwen, llama] = await Promise.all([
      realTokenizer('mistral'),
      realTokenizer('qwen3'),
      realTokenizer('llama3'),
    ]);
    // About 2,000 Mistral tokens each: whole conversations, where the character diagonal drifts
    // far from the optimal path and most of the matrix is pruned.
    const texts = [
      mobyDick(1).slice(0, 8600),
      mobyDick(28).slice(0, 8600),
      stateOfTheUnion(5).slice(0, 9000),
    ];
    const pairs = [
      [qwen, mistral],
      [llama, mistral],
      [mistral, qwen],
    ] as const;
    for (const text of texts) {
      for (const [source, pivot] of pairs) {
        const s = tokensOf(source, source.encode(text));
        const p = tokensOf(pivot, pivot.encode(text));
        expect(Math.max(s.length, p.length)).toBeGreaterThan(1700);
        const marker = (convention: string) => (convention === 'byte-level' ? 'Ġ' : '▁');
        expect(dtwAlign(s, p, { sourceMarker: source.spaceMarker, pivotMarker: pivot.spaceMarker })).toEqual(
          referenceDtw(s, p, marker(source.spaceMarker), marker(pivot.spaceMarker)),
        );
      }
    }
  });

  it('equals the reference on unrelated texts (no pruning to speak of)', async () => {
    const [mistral, qwen] = await Promise.all([realTokenizer('mistral'), realTokenizer('qwen3')]);
    const s = tokensOf(qwen, qwen.encode(mobyDick(3).slice(0, 600)));
    const p = tokensOf(mistral, mistral.encode(stateOfTheUnion(10).slice(0, 700)));
    expect(dtwAlign(s, p, { sourceMarker: 'byte-level', pivotMarker: 'sentencepiece' })).toEqual(
      referenceDtw(s, p, 'Ġ', '▁'),
    );
  });

  it('rejects bad input with clear errors', () => {
    expect(dtwAlign([], [], BL)).toEqual([]);
    expect(() => dtwAlign([], ['▁a'], BL)).toThrow(
      expect.objectContaining({ code: 'ALIGNMENT_EMPTY_SEQUENCE' }),
    );
    expect(() => dtwAlign(['a'], [], BL)).toThrow(/empty pivot sequence/);
    expect(() => dtwAlign(['a', undefined as unknown as string], ['a'], BL)).toThrow(
      expect.objectContaining({ code: 'ALIGNMENT_INVALID_TOKEN', field: 'sourceTokens[1]' }),
    );
    expect(() => dtwAlign(['a'], ['a'], { sourceMarker: '', pivotMarker: '▁' })).toThrow(
      expect.objectContaining({ code: 'TOKENIZER_UNKNOWN_MARKER' }),
    );
  });
});

function expectMonotoneCover(aligned: number[][], sourceLength: number): void {
  const seen = new Set<number>();
  let previousLast = 0;
  for (const positions of aligned) {
    expect(positions.length).toBeGreaterThan(0);
    expect(positions[0]).toBeGreaterThanOrEqual(previousLast);
    expect(positions[0]! - previousLast).toBeLessThanOrEqual(1);
    for (let k = 1; k < positions.length; k++) expect(positions[k]).toBe(positions[k - 1]! + 1);
    for (const position of positions) seen.add(position);
    previousLast = positions[positions.length - 1]!;
  }
  expect(aligned[0]![0]).toBe(0);
  expect(previousLast).toBe(sourceLength - 1);
  expect(seen.size).toBe(sourceLength);
}
