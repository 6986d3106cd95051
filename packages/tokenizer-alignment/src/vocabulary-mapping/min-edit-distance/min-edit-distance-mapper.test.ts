import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { editDistance } from '../../edit-distance/edit-distance.js';
import { realTokenizer } from '../../test-fixtures.js';
import { swapSpaceMarker } from '../../token-strings/space-marker.js';
import { vocabularyTokens } from '../vocabulary-map.js';
import { codePointBatch, minEditDistanceMapper, nearestTokenTables } from './min-edit-distance-mapper.js';
import { nearestTokenKernel } from './nearest-token-kernel.js';

/** Brute force: every candidate in id order, fast-levenshtein (code points), strict improvement. */
function bruteForce(query: string, candidates: readonly (string | undefined)[]): number {
  let best = Number.POSITIVE_INFINITY;
  let bestId = -1;
  candidates.forEach((candidate, id) => {
    if (candidate === undefined) return;
    const distance = editDistance(query, candidate);
    if (distance < best) {
      best = distance;
      bestId = id;
    }
  });
  return bestId;
}

function nearest(queries: string[], candidates: (string | undefined)[]): number[] {
  const { tables, candidateIds } = nearestTokenTables(candidates);
  return Array.from(nearestTokenKernel(tables, codePointBatch(queries)), (index) =>
    index < 0 ? -1 : candidateIds[index]!,
  );
}

describe('min-edit-distance', () => {
  it('hand-checked: smallest distance, first in pivot-id order on ties, code points', () => {
    const candidates = ['▁cat', 'dog', '▁car', undefined, 'cart', '😀'];
    expect(nearest(['▁cat', '▁cab', 'cars', '😃', ''], candidates)).toEqual([0, 0, 4, 5, 5]);
    // '▁cab' is 1 away from both '▁cat' (id 0) and '▁car' (id 2): id 0 wins.
    expect(editDistance('▁cab', '▁car')).toBe(1);
  });

  it('equals brute force on random strings (property)', () => {
    const text = fc.stringMatching(/^[ab▁😀c]{0,40}$/u);
    fc.assert(
      fc.property(
        fc.array(text, { minLength: 1, maxLength: 40 }),
        fc.array(text, { minLength: 1, maxLength: 8 }),
        (candidates, queries) => {
          expect(nearest(queries, candidates)).toEqual(queries.map((query) => bruteForce(query, candidates)));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('equals brute force for a sample of Qwen3 tokens against the Mistral vocabulary', async () => {
    const [qwen, mistral] = await Promise.all([realTokenizer('qwen3'), realTokenizer('mistral')]);
    const qwenTokens = vocabularyTokens(qwen);
    const mistralTokens = vocabularyTokens(mistral);
    const sample: string[] = [];
    for (let id = 17; id < qwen.vocabSize; id += 1499)
      sample.push(swapSpaceMarker(qwenTokens[id]!, 'Ġ', '▁'));
    sample.push('▁😀😀', 'ĠĠĠĠĠĠĠĠĠĠĠĠĠĠĠĠĠĠĠĠĠĠĠĠĠĠĠĠĠĠĠĠĠĠĠĠĠ'); // astral, and longer than 32 code points
    expect(nearest(sample, mistralTokens)).toEqual(sample.map((query) => bruteForce(query, mistralTokens)));
  });

  it('maps through worker threads exactly as in-thread', async () => {
    const [llama, mistral] = await Promise.all([realTokenizer('llama3'), realTokenizer('mistral')]);
    const llamaTokens = vocabularyTokens(llama);
    const unresolved = Int32Array.from({ length: 2600 }, (_, k) => 40_000 + k * 7);
    const request = {
      source: llama,
      pivot: mistral,
      sourceTokens: llamaTokens,
      pivotTokens: vocabularyTokens(mistral),
      sourceMarker: 'Ġ',
      pivotMarker: '▁',
      unresolved,
      fallbackId: 0,
    };
    const threaded = await minEditDistanceMapper.map({ ...request, workers: 2 });
    const inThread = await minEditDistanceMapper.map({ ...request, workers: 1 });
    expect(threaded).toEqual(inThread);
    const expected = [0, 1000, 2599].map((k) =>
      bruteForce(swapSpaceMarker(llamaTokens[unresolved[k]!]!, 'Ġ', '▁'), request.pivotTokens),
    );
    expect([threaded[0], threaded[1000], threaded[2599]]).toEqual(expected);
  });
});
