import type { TokenizerLike } from '@fusechat/core';
import { describe, expect, it } from 'vitest';
import { dtwAlign } from '../sequence-alignment/dtw/dtw-align.js';
import { mobyDick, realTokenizer, stateOfTheUnion, tokensOf } from '../test-fixtures.js';
import { buildVocabularyMap } from './build-vocabulary-map.js';
import { countCoAlignments } from './statistics/statistics-mapper.js';
import {
  checkVocabularyMap,
  parseVocabularyMap,
  serializeVocabularyMap,
  vocabularyTokens,
} from './vocabulary-map.js';
import type { VocabularyMapper } from './vocabulary-mapper.js';
import { builtinVocabularyMappers, createVocabularyMapperRegistry } from './vocabulary-mapper-registry.js';

/** A tiny in-code tokenizer: id = index in `tokens`. */
function toyTokenizer(
  tokens: string[],
  options: {
    spaceMarker: 'sentencepiece' | 'byte-level';
    bos?: number;
    eos?: number;
    unk?: number;
    hash?: string;
  },
): TokenizerLike {
  return {
    vocabSize: tokens.length,
    specialTokens: { bos: options.bos, eos: options.eos, unk: options.unk },
    spaceMarker: options.spaceMarker,
    hash: options.hash ?? tokens.join('|'),
    encode: () => [],
    decode: () => '',
    idToToken: (id) => tokens[id],
    tokenToId: (token) => {
      const id = tokens.indexOf(token);
      return id < 0 ? undefined : id;
    },
  };
}

describe('buildVocabularyMap', () => {
  const source = toyTokenizer(['<|end|>', 'Ġcat', 'Ġdog', 'ing', 'Ġcar', 'zzzz', '<|start|>'], {
    spaceMarker: 'byte-level',
    eos: 0,
    bos: 6,
  });
  const pivot = toyTokenizer(['<unk>', '<s>', '</s>', '▁cat', '▁cart', 'ing', '▁do', '▁dot'], {
    spaceMarker: 'sentencepiece',
    bos: 1,
    eos: 2,
    unk: 0,
  });

  it('hand-checked: BOS/EOS, then exact after marker swap, then the method', async () => {
    const exact = await buildVocabularyMap(source, pivot, { method: 'exact' });
    expect(Array.from(exact.sourceToPivot)).toEqual([2, 3, 0, 5, 0, 0, 1]);
    expect(exact.method).toBe('exact');
    const nearest = await buildVocabularyMap(source, pivot, { method: 'min-edit-distance', workers: 1 });
    // 'Ġdog' → '▁dog': '▁do' and '▁dot' are both 1 away, '▁do' has the lower id; 'Ġcar' → '▁cat'
    // (id 3) and '▁cart' (id 4) are both 1 away; 'zzzz' is 4 away from '<s>' (3) … '▁cat' (4): '<s>'.
    expect(Array.from(nearest.sourceToPivot)).toEqual([2, 3, 6, 5, 3, 1, 1]);
  });

  it('hand-checked statistics: co-aligned candidates, smallest DTW cost, lowest id; none → unk', async () => {
    const corpus = [
      // 'Ġdog' aligned with '▁dot' twice and '▁do' once: equal cost 1 → lowest id ('▁do', 6).
      { sourceIds: [2], pivotIds: [7] },
      { sourceIds: [2], pivotIds: [7] },
      { sourceIds: [2], pivotIds: [6] },
      // 'Ġcar' aligned with '▁cart' only.
      { sourceIds: [4], pivotIds: [4] },
    ];
    const map = await buildVocabularyMap(source, pivot, { method: 'statistics', corpus });
    expect(Array.from(map.sourceToPivot)).toEqual([2, 3, 6, 5, 4, 0, 1]);
    const counts = await countCoAlignments(corpus, {
      sourceTokens: vocabularyTokens(source),
      pivotTokens: vocabularyTokens(pivot),
      sourceMarker: 'Ġ',
      pivotMarker: '▁',
    });
    expect(counts.counts.get(2)).toEqual(
      new Map([
        [7, 2],
        [6, 1],
      ]),
    );
    await expect(buildVocabularyMap(source, pivot, { method: 'statistics' })).rejects.toMatchObject({
      code: 'VOCAB_MAP_NO_CORPUS',
    });
  });

  it('statistics without a candidate falls back to eos when the pivot has no unk', async () => {
    const noUnk = toyTokenizer(['<pad>', '<s>', '</s>', '▁cat', '▁cart', 'ing', '▁do', '▁dot'], {
      spaceMarker: 'sentencepiece',
      bos: 1,
      eos: 2,
    });
    const corpus = [
      { sourceIds: [2], pivotIds: [3] },
      { sourceIds: [2], pivotIds: [6] },
    ];
    const map = await buildVocabularyMap(source, noUnk, { method: 'statistics', corpus });
    // 'Ġdog' → '▁do' (id 6, cost 1) rather than the lower id '▁cat' (3, cost 3); 'Ġcar' and
    // 'zzzz' were never co-aligned → eos (2), not id 0.
    expect(Array.from(map.sourceToPivot)).toEqual([2, 3, 6, 5, 2, 2, 1]);
    const neither = toyTokenizer(['▁cat'], { spaceMarker: 'sentencepiece' });
    await expect(
      buildVocabularyMap(source, neither, { method: 'statistics', corpus: [] }),
    ).rejects.toMatchObject({
      code: 'VOCAB_MAP_NO_FALLBACK',
    });
  });

  it('statistics over real text: every candidate was co-aligned, counts are sparse', async () => {
    const [qwen, mistral] = await Promise.all([realTokenizer('qwen3'), realTokenizer('mistral')]);
    const texts = [mobyDick(1).slice(0, 3000), mobyDick(2).slice(0, 3000), stateOfTheUnion(5).slice(0, 3000)];
    const corpus = texts.map((text) => ({ sourceIds: qwen.encode(text), pivotIds: mistral.encode(text) }));
    const map = await buildVocabularyMap(qwen, mistral, { method: 'statistics', corpus });
    const pairs = new Set<string>();
    for (const { sourceIds, pivotIds } of corpus) {
      const aligned = dtwAlign(tokensOf(qwen, sourceIds), tokensOf(mistral, pivotIds), {
        sourceMarker: 'byte-level',
        pivotMarker: 'sentencepiece',
      });
      aligned.forEach((positions, j) => {
        for (const i of positions) pairs.add(`${sourceIds[i]}→${pivotIds[j]}`);
      });
    }
    const exact = await buildVocabularyMap(qwen, mistral, { method: 'exact' });
    let resolvedByStatistics = 0;
    for (let id = 0; id < qwen.vocabSize; id++) {
      const pivotId = map.sourceToPivot[id]!;
      if (pivotId === exact.sourceToPivot[id]) continue;
      resolvedByStatistics++;
      expect(pairs.has(`${id}→${pivotId}`)).toBe(true);
    }
    expect(resolvedByStatistics).toBeGreaterThan(10);
    // 'Ġwhale' is not a Mistral token; it was aligned with '▁wh' + 'ale' or similar.
    expect(map.sourceToPivot[qwen.tokenToId('Ġwhale')!]).not.toBe(0);
  });

  it('real vocabularies: BOS/EOS from tokenizer_config.json, exact matches across markers', async () => {
    const [llama, mistral] = await Promise.all([realTokenizer('llama3'), realTokenizer('mistral')]);
    const map = await buildVocabularyMap(llama, mistral, { method: 'exact' });
    expect(map.sourceToPivot[128000]).toBe(1); // <|begin_of_text|> → <s>
    expect(map.sourceToPivot[128001]).toBe(2); // <|end_of_text|> → </s>
    expect(map.sourceToPivot[llama.tokenToId('Ġthe')!]).toBe(mistral.tokenToId('▁the'));
    expect(map.sourceToPivot[llama.tokenToId('<|reserved_special_token_0|>')!]).toBe(0); // unk
  });

  it('refuses corpus ids outside the vocabularies', async () => {
    await expect(
      buildVocabularyMap(source, pivot, {
        method: 'statistics',
        corpus: [{ sourceIds: [99], pivotIds: [1] }],
      }),
    ).rejects.toMatchObject({ code: 'VOCAB_MAP_UNKNOWN_TOKEN', field: 'corpus[0].sourceIds[0]' });
  });

  it('serialises with both hashes and refuses other tokenizers', async () => {
    const map = await buildVocabularyMap(source, pivot, { method: 'exact' });
    const text = serializeVocabularyMap(map);
    expect(JSON.parse(text)).toMatchObject({
      format: 'fusechat-vocabulary-map',
      source: { hash: source.hash },
    });
    const parsed = parseVocabularyMap(text, { source, pivot });
    expect(parsed.sourceToPivot).toEqual(map.sourceToPivot);
    const other = toyTokenizer(['<unk>', '<s>', '</s>', '▁cat', '▁cart', 'ing', '▁do', '▁dot'], {
      spaceMarker: 'sentencepiece',
      unk: 0,
      hash: 'f'.repeat(64),
    });
    expect(() => checkVocabularyMap(parsed, source, other)).toThrow(
      expect.objectContaining({ code: 'VOCAB_MAP_HASH_MISMATCH', name: 'IntegrityError' }),
    );
    expect(() => parseVocabularyMap(text, { source: other, pivot })).toThrow(/rebuild the map/);
    expect(() => parseVocabularyMap('{"format":"x"}')).toThrow(
      expect.objectContaining({ code: 'VOCAB_MAP_INVALID' }),
    );
    const broken = JSON.parse(text);
    broken.sourceToPivot[1] = 99;
    expect(() => parseVocabularyMap(broken)).toThrow(/sourceToPivot\[1\]/);
  });

  it('a registry is a value: users add mappers; unknown names list the known ones', async () => {
    const everythingToEos: VocabularyMapper = {
      name: 'eos',
      map: (request) => new Int32Array(request.unresolved.length).fill(request.pivot.specialTokens.eos!),
    };
    const registry = createVocabularyMapperRegistry({ ...builtinVocabularyMappers, eos: everythingToEos });
    const map = await buildVocabularyMap(source, pivot, { method: 'eos', registry });
    expect(Array.from(map.sourceToPivot)).toEqual([2, 3, 2, 5, 2, 2, 1]);
    await expect(buildVocabularyMap(source, pivot, { method: 'min-edit' })).rejects.toMatchObject({
      code: 'VOCAB_MAP_UNKNOWN_METHOD',
      message: expect.stringContaining('Known: exact, min-edit-distance, statistics'),
    });
  });
});
