import type { TokenizerLike } from '@fusechat/core';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import type { ChatMessage, DataExample } from '../data/data-example.js';
import { testTokenizer } from '../test-fixtures.js';
import { tokenizeExample } from './tokenize-example.js';

const llama2 = await testTokenizer('llama2');
const llama3 = await testTokenizer('llama3');
const qwen3 = await testTokenizer('qwen3');

const chat = (messages: ChatMessage[]): DataExample => ({
  kind: 'chat',
  id: 'c1',
  where: 'train.jsonl:3',
  messages,
});

/** The supervised tokens as runs of consecutive positions, each run decoded. */
function supervisedRuns(tokenizer: TokenizerLike, inputIds: Int32Array, labelMask: Uint8Array): string[] {
  const runs: string[] = [];
  let run: number[] = [];
  for (let t = 0; t <= inputIds.length; t++) {
    if (t < inputIds.length && labelMask[t] === 1) run.push(inputIds[t]!);
    else if (run.length > 0) {
      runs.push(tokenizer.decode(run));
      run = [];
    }
  }
  return runs;
}

const conversation: ChatMessage[] = [
  { role: 'system', content: 'Be brief.' },
  { role: 'user', content: 'Say hi  😀' },
  { role: 'assistant', content: 'Hi there 😀\n中文 too.' },
  { role: 'user', content: 'Again' },
  { role: 'assistant', content: 'Bye.' },
];

describe('tokenizeExample: chat', () => {
  test('Qwen3: assistant contents + <|im_end|> are supervised, nothing else', () => {
    const { inputIds, labelMask, truncated, id } = tokenizeExample(chat(conversation), { tokenizer: qwen3 });
    expect(id).toBe('c1');
    expect(truncated).toBe(false);
    expect(supervisedRuns(qwen3, inputIds, labelMask)).toEqual([
      'Hi there 😀\n中文 too.<|im_end|>',
      'Bye.<|im_end|>',
    ]);
    // Encoded without added special tokens: the rendered text round-trips exactly.
    expect(qwen3.decode([...inputIds])).toBe(
      '<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nSay hi  😀<|im_end|>\n' +
        '<|im_start|>assistant\nHi there 😀\n中文 too.<|im_end|>\n<|im_start|>user\nAgain<|im_end|>\n' +
        '<|im_start|>assistant\n<think>\n\n</think>\n\nBye.<|im_end|>\n',
    );
    // The first supervised token is preceded by the "assistant\n" header, never part of it.
    const first = labelMask.indexOf(1);
    expect(qwen3.decode([...inputIds.slice(first - 2, first)])).toBe('assistant\n');
  });

  test('Llama-3: assistant contents + <|eot_id|>; bos once, from the template', () => {
    const { inputIds, labelMask } = tokenizeExample(chat(conversation), { tokenizer: llama3 });
    expect(supervisedRuns(llama3, inputIds, labelMask)).toEqual([
      'Hi there 😀\n中文 too.<|eot_id|>',
      'Bye.<|eot_id|>',
    ]);
    expect(inputIds[0]).toBe(llama3.specialTokens.bos);
    expect(inputIds.filter((id) => id === llama3.specialTokens.bos)).toHaveLength(1);
  });

  test('Qwen3 reasoning: the last turn’s think block is supervised, earlier ones were dropped by the template', () => {
    const { inputIds, labelMask } = tokenizeExample(
      chat([
        { role: 'user', content: 'A?' },
        { role: 'assistant', content: '<think>\nfirst\n</think>\n\nB.' },
        { role: 'user', content: 'C?' },
        { role: 'assistant', content: '<think>\nsecond\n</think>\n\nD.' },
      ]),
      { tokenizer: qwen3 },
    );
    expect(supervisedRuns(qwen3, inputIds, labelMask)).toEqual([
      'B.<|im_end|>',
      '<think>\nsecond\n</think>\n\nD.<|im_end|>',
    ]);
  });

  test('a custom template with `content + " " + eos`: the space token and </s> close the turn (SentencePiece)', () => {
    const chatTemplate =
      "{% for m in messages %}{% if m.role == 'user' %}{{ bos_token + '[INST] ' + m.content + ' [/INST]' }}{% elif m.role == 'assistant' %}{{ ' ' + m.content | trim + ' ' + eos_token }}{% endif %}{% endfor %}";
    const { inputIds, labelMask } = tokenizeExample(
      chat([
        { role: 'user', content: 'Hi' },
        { role: 'assistant', content: 'Hello\nyou 😀' },
        { role: 'user', content: 'More' },
        { role: 'assistant', content: 'Done.' },
      ]),
      { tokenizer: llama2, chatTemplate },
    );
    const runs = supervisedRuns(llama2, inputIds, labelMask);
    expect(runs).toEqual(['Hello\nyou 😀 </s>', 'Done. </s>']);
    const eos = llama2.specialTokens.eos!;
    expect([...inputIds].filter((id, t) => id === eos && labelMask[t] === 1)).toHaveLength(2);
  });

  test('no template → CHAT_NO_TEMPLATE naming the line and --chat-template FILE', () => {
    expect(() => tokenizeExample(chat(conversation), { tokenizer: llama2 })).toThrow(
      expect.objectContaining({
        code: 'CHAT_NO_TEMPLATE',
        message: expect.stringMatching(/^train\.jsonl:3: .*--chat-template FILE/),
      }),
    );
  });
});

describe('tokenizeExample: text and tokens', () => {
  test('text: the tokenizer’s own special tokens, every token supervised', () => {
    const example: DataExample = { kind: 'text', id: 't', where: 'lm.jsonl:1', text: 'Hello world' };
    const { inputIds, labelMask } = tokenizeExample(example, { tokenizer: llama2 });
    expect([...inputIds]).toEqual(llama2.encode('Hello world'));
    expect(inputIds[0]).toBe(llama2.specialTokens.bos); // Llama-2 adds <s>
    expect([...labelMask]).toEqual(new Array(inputIds.length).fill(1));
    const qwen = tokenizeExample(example, { tokenizer: qwen3 });
    expect(qwen3.decode([...qwen.inputIds])).toBe('Hello world'); // Qwen3 adds nothing
  });

  test('tokens: labels −100 are not supervised; no labels = all supervised', () => {
    const { inputIds, labelMask } = tokenizeExample(
      {
        kind: 'tokens',
        id: 'k',
        where: 'ids.jsonl:2',
        inputIds: [1, 15, 16, 17],
        labels: [-100, -100, 16, 17],
      },
      { tokenizer: llama2 },
    );
    expect([...inputIds]).toEqual([1, 15, 16, 17]);
    expect([...labelMask]).toEqual([0, 0, 1, 1]);
    const all = tokenizeExample(
      { kind: 'tokens', id: 'k', where: 'ids.jsonl:2', inputIds: [1, 2] },
      { tokenizer: llama2 },
    );
    expect([...all.labelMask]).toEqual([1, 1]);
  });

  test('ids outside the vocabulary → CHAT_TOKEN_OUT_OF_VOCABULARY naming file:line and position', () => {
    expect(() =>
      tokenizeExample(
        { kind: 'tokens', id: 'k', where: 'ids.jsonl:5', inputIds: [1, 2, 32000] },
        { tokenizer: llama2 },
      ),
    ).toThrow(
      expect.objectContaining({
        code: 'CHAT_TOKEN_OUT_OF_VOCABULARY',
        message: expect.stringMatching(/^ids\.jsonl:5: token 2 has id 32000, outside .*0…31999/),
      }),
    );
  });
});

describe('tokenizeExample: truncation', () => {
  const example: DataExample = {
    kind: 'tokens',
    id: 'k',
    where: 'ids.jsonl:1',
    inputIds: [10, 11, 12, 13, 14],
    labels: [-100, 11, -100, 13, 14],
  };

  test('keep-first (default) keeps the first maxLength tokens and reports it', () => {
    const result = tokenizeExample(example, { tokenizer: llama2, maxLength: 3 });
    expect([...result.inputIds]).toEqual([10, 11, 12]);
    expect([...result.labelMask]).toEqual([0, 1, 0]);
    expect(result.truncated).toBe(true);
    expect(tokenizeExample(example, { tokenizer: llama2, maxLength: 5 }).truncated).toBe(false);
  });

  test('keep-last keeps the last maxLength tokens', () => {
    const result = tokenizeExample(example, { tokenizer: llama2, maxLength: 2, truncation: 'keep-last' });
    expect([...result.inputIds]).toEqual([13, 14]);
    expect([...result.labelMask]).toEqual([1, 1]);
  });

  test('refuse throws CHAT_TOO_LONG with file:line', () => {
    expect(() => tokenizeExample(example, { tokenizer: llama2, maxLength: 4, truncation: 'refuse' })).toThrow(
      expect.objectContaining({
        code: 'CHAT_TOO_LONG',
        message: expect.stringMatching(/^ids\.jsonl:1: .*5 tokens/),
      }),
    );
  });

  test('a chat truncated in its assistant turn keeps the mask of the kept tokens', () => {
    const full = tokenizeExample(chat(conversation), { tokenizer: qwen3 });
    const cut = tokenizeExample(chat(conversation), {
      tokenizer: qwen3,
      maxLength: full.inputIds.length - 3,
    });
    expect(cut.truncated).toBe(true);
    expect([...cut.inputIds]).toEqual([...full.inputIds.slice(0, full.inputIds.length - 3)]);
    expect([...cut.labelMask]).toEqual([...full.labelMask.slice(0, full.labelMask.length - 3)]);
  });

  test('invalid maxLength → CHAT_INVALID_OPTION', () => {
    expect(() => tokenizeExample(example, { tokenizer: llama2, maxLength: 0 })).toThrow(
      expect.objectContaining({ code: 'CHAT_INVALID_OPTION' }),
    );
  });
});

describe('tokenizeExample: label-mask property (Qwen3, random conversations)', () => {
  const word = fc
    .array(fc.constantFrom('a', 'Hi', ' ', '  ', '\n', '😀', '中文', '.', "'s", '<b>', 'im_end', '|'), {
      maxLength: 8,
    })
    .map((pieces) => `x${pieces.join('')}y`);
  test('the supervised runs decode to exactly the assistant contents, each closed by <|im_end|>', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(word, word), { minLength: 1, maxLength: 4 }),
        fc.option(word, { nil: undefined }),
        fc.boolean(),
        (turns, system, echo) => {
          const messages: ChatMessage[] = system === undefined ? [] : [{ role: 'system', content: system }];
          // `echo`: the user says what the assistant will say (a naive search would match the user).
          for (const [user, assistant] of turns) {
            messages.push(
              { role: 'user', content: echo ? assistant : user },
              { role: 'assistant', content: assistant },
            );
          }
          const { inputIds, labelMask } = tokenizeExample(chat(messages), { tokenizer: qwen3 });
          expect(supervisedRuns(qwen3, inputIds, labelMask)).toEqual(
            turns.map(([, assistant]) => `${assistant}<|im_end|>`),
          );
        },
      ),
      { numRuns: 60 },
    );
  });
});
