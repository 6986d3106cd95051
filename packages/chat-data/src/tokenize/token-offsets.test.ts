import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { testTokenizer } from '../test-fixtures.js';
import { isSpecialToken, tokenOffsets } from './token-offsets.js';

const tokenizers = {
  llama2: await testTokenizer('llama2'),
  llama3: await testTokenizer('llama3'),
  qwen3: await testTokenizer('qwen3'),
};

const TEXTS = [
  'Hello world',
  'two  spaces,   three, and\ttabs',
  'line one\nline two\n\n\nafter blank lines\r\nCRLF',
  'emoji 😀👍🏽 and flags 🇫🇷 inside',
  '中文字符和日本語のテキスト',
  'mixed: naïve café — “quotes” … 1234567 x²',
  ' leading space and trailing space ',
];

const SPECIALS = {
  llama2: '<s>[INST] Hi [/INST] Ok </s><s>[INST] 😀 [/INST]',
  llama3: '<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi 中文<|eot_id|>',
  qwen3: '<|im_start|>user\nHi  😀<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\nOk<|im_end|>\n',
};

describe('tokenOffsets', () => {
  test('hand-checked offsets (Qwen3, byte-level): "Hi  there"', () => {
    const tokenizer = tokenizers.qwen3;
    const text = 'Hi  there';
    const ids = tokenizer.encode(text, { addSpecialTokens: false });
    expect(ids.map((id) => tokenizer.idToToken(id))).toEqual(['Hi', 'Ġ', 'Ġthere']);
    const { starts, ends, method } = tokenOffsets(tokenizer, ids, text);
    expect(method).toBe('walk');
    expect([...starts]).toEqual([0, 2, 3]);
    expect([...ends]).toEqual([2, 3, 9]);
  });

  test('hand-checked offsets (Llama-2, SentencePiece): prepended ▁ and <0x0A> byte fallback', () => {
    const tokenizer = tokenizers.llama2;
    const text = 'Hi\nyou';
    const ids = tokenizer.encode(text); // adds <s>
    expect(ids.map((id) => tokenizer.idToToken(id))).toEqual(['<s>', '▁Hi', '<0x0A>', 'you']);
    const { starts, ends } = tokenOffsets(tokenizer, ids, text);
    expect([...starts]).toEqual([0, 0, 2, 3]);
    expect([...ends]).toEqual([0, 2, 3, 6]); // <s> is not in the text: empty
  });

  test('a character split over byte tokens: each piece covers the whole character', () => {
    const tokenizer = tokenizers.llama3;
    const text = 'a😀';
    const ids = tokenizer.encode(text, { addSpecialTokens: false });
    const { starts, ends } = tokenOffsets(tokenizer, ids, text);
    const pieces = ids.map((_, t) => text.slice(starts[t], ends[t]));
    expect(pieces[0]).toBe('a');
    expect(pieces.slice(1).every((piece) => piece === '😀')).toBe(true);
    expect(ids.length).toBeGreaterThan(2); // the emoji really is split (ðŁĺ + Ģ)
  });

  for (const [name, tokenizer] of Object.entries(tokenizers)) {
    test(`${name}: walk and decode agree, and every token spells its own text`, () => {
      for (const text of [...TEXTS, SPECIALS[name as keyof typeof SPECIALS]]) {
        const ids = tokenizer.encode(text, { addSpecialTokens: false });
        const walk = tokenOffsets(tokenizer, ids, text, { method: 'walk' });
        const decode = tokenOffsets(tokenizer, ids, text, { method: 'decode' });
        let previousEnd = 0;
        for (let t = 0; t < ids.length; t++) {
          const piece = text.slice(walk.starts[t], walk.ends[t]);
          const own = tokenizer.decode([ids[t]!]);
          if (own.includes('\uFFFD')) {
            // A piece of a split character: both methods cover (part of) the same characters.
            expect(walk.starts[t]! < decode.ends[t]! && decode.starts[t]! < walk.ends[t]!, text).toBe(true);
          } else {
            // Equal up to which of two SentencePiece tokens owns a space the normalizer prepended.
            expect(text.slice(decode.starts[t], decode.ends[t]).trim(), text).toBe(piece.trim());
          }
          // Whole-character tokens spell exactly their decoded text (SentencePiece may drop the
          // leading space of a lone decode); split characters are covered whole.
          if (!own.includes('\uFFFD')) expect([own, ` ${own}`, own.trimStart()]).toContain(piece);
          expect(walk.starts[t]).toBeGreaterThanOrEqual(previousEnd - 2); // monotone (overlap only inside a character)
          previousEnd = walk.ends[t]!;
        }
        expect(walk.ends[ids.length - 1]).toBe(text.length);
      }
    });
  }

  test('a normalizer that changes the text (Qwen3 NFC) makes the walk fail; the align and decode fallbacks place tokens', () => {
    const tokenizer = tokenizers.qwen3;
    const text = 'Cafe\u0301 au lait, s\u0327il vous plait';
    const ids = tokenizer.encode(text, { addSpecialTokens: false });
    expect(tokenizer.decode(ids)).toBe(text.normalize('NFC')); // the tokenizer really normalised
    expect(() => tokenOffsets(tokenizer, ids, text, { method: 'walk' })).toThrow(
      expect.objectContaining({ code: 'CHAT_OFFSETS_FAILED' }),
    );
    const { starts, ends, method } = tokenOffsets(tokenizer, ids, text);
    expect(method).toBe('align');
    const decoded = tokenOffsets(tokenizer, ids, text, { method: 'decode' });
    expect([...decoded.starts]).toEqual([...starts]);
    expect([...decoded.ends]).toEqual([...ends]);
    const pieces = ids.map((_, t) => text.slice(starts[t], ends[t]));
    // Untouched tokens map exactly; the composed ones cover the decomposed characters.
    expect(pieces).toContain(' au');
    expect(pieces).toContain(' vous');
    expect(pieces.join('')).toBe(text);
    const composed = ids.findIndex((id) => tokenizer.decode([id]).includes('é'));
    expect(text.slice(starts[composed], ends[composed]).endsWith('e\u0301')).toBe(true);
  });

  test('a literal ▁ in SentencePiece text (the tokenizer cannot tell it from a space) is still placed', () => {
    const tokenizer = tokenizers.llama2;
    for (const text of ['a▁b c', '▁', '▁▁x ▁']) {
      const ids = tokenizer.encode(text, { addSpecialTokens: false });
      const { starts, ends } = tokenOffsets(tokenizer, ids, text);
      const pieces = ids.map((_, t) => text.slice(starts[t], ends[t]));
      expect(pieces.join(''), JSON.stringify(text)).toBe(text);
    }
  });

  test('isSpecialToken: added special tokens and named specials, not ordinary tokens', () => {
    const qwen3 = tokenizers.qwen3;
    expect(isSpecialToken(qwen3, qwen3.tokenToId('<|im_end|>')!)).toBe(true);
    expect(isSpecialToken(qwen3, qwen3.tokenToId('<|endoftext|>')!)).toBe(true);
    expect(isSpecialToken(qwen3, qwen3.tokenToId('Hello')!)).toBe(false);
    const llama3 = tokenizers.llama3;
    expect(isSpecialToken(llama3, llama3.tokenToId('<|eot_id|>')!)).toBe(true);
    expect(isSpecialToken(tokenizers.llama2, tokenizers.llama2.tokenToId('▁')!)).toBe(false);
    expect(isSpecialToken(tokenizers.llama2, 2)).toBe(true);
  });
});

describe('tokenOffsets properties (real tokenizers, random texts)', () => {
  // (A literal `▁` in the text is indistinguishable from a space for SentencePiece: see below.)
  const pieces = [
    'a',
    'Hello',
    ' ',
    '  ',
    '\n',
    '\n\n',
    '\t',
    '😀',
    '👍🏽',
    '中文',
    'é',
    '—',
    '1234',
    "'s",
    '<0x0A>',
    'Ġ',
    '.',
  ];
  for (const [name, tokenizer] of Object.entries(tokenizers)) {
    const specials =
      name === 'qwen3' ? ['<|im_end|>', '<|im_start|>'] : name === 'llama3' ? ['<|eot_id|>'] : ['</s>'];
    test(`${name}: the walk places every token, in order, covering the text, as the align fallback does`, () => {
      fc.assert(
        fc.property(
          fc.array(fc.constantFrom(...pieces, ...specials), { minLength: 1, maxLength: 30 }),
          (parts) => {
            const text = parts.join('');
            const ids = tokenizer.encode(text, { addSpecialTokens: false });
            const walk = tokenOffsets(tokenizer, ids, text, { method: 'walk' });
            const decode = tokenOffsets(tokenizer, ids, text, { method: 'align' });
            let covered = 0;
            for (let t = 0; t < ids.length; t++) {
              const start = walk.starts[t]!;
              const end = walk.ends[t]!;
              expect(start).toBeLessThanOrEqual(end);
              // Every character is covered: a token starts no later than where the previous ended.
              expect(start).toBeLessThanOrEqual(covered);
              covered = Math.max(covered, end);
              const own = tokenizer.decode([ids[t]!]);
              if (own.includes('\uFFFD')) {
                expect(start < decode.ends[t]! && decode.starts[t]! < end).toBe(true);
              } else {
                expect(text.slice(decode.starts[t], decode.ends[t]).trim()).toBe(
                  text.slice(start, end).trim(),
                );
              }
            }
            expect(covered).toBe(text.length);
          },
        ),
        { numRuns: 150 },
      );
    });
  }
});
