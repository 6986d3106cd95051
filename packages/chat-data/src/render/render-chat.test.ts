import { describe, expect, test } from 'vitest';
import type { ChatMessage } from '../data/data-example.js';
import { testTokenizer } from '../test-fixtures.js';
import { renderChat } from './render-chat.js';

const llama3 = await testTokenizer('llama3');
const qwen3 = await testTokenizer('qwen3');
const llama2 = await testTokenizer('llama2');

const spansOf = (text: string, spans: [number, number][]): string[] =>
  spans.map(([start, end]) => text.slice(start, end));

describe('renderChat with the Qwen3 template', () => {
  test('single turn: the last assistant turn gets an empty think block; the span is the content', () => {
    const { text, assistantSpans } = renderChat(
      [
        { role: 'user', content: 'Hi' },
        { role: 'assistant', content: 'Hello!' },
      ],
      { tokenizer: qwen3 },
    );
    expect(text).toBe(
      '<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\nHello!<|im_end|>\n',
    );
    expect(assistantSpans).toEqual([[text.indexOf('Hello!'), text.indexOf('Hello!') + 6]]);
  });

  test('system prompt, two turns: only the turn after the last user query gets a think block', () => {
    const { text, assistantSpans } = renderChat(
      [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'A?' },
        { role: 'assistant', content: 'B.' },
        { role: 'user', content: 'C?' },
        { role: 'assistant', content: 'D.' },
      ],
      { tokenizer: qwen3 },
    );
    expect(text).toBe(
      '<|im_start|>system\nBe brief.<|im_end|>\n' +
        '<|im_start|>user\nA?<|im_end|>\n<|im_start|>assistant\nB.<|im_end|>\n' +
        '<|im_start|>user\nC?<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\nD.<|im_end|>\n',
    );
    expect(spansOf(text, assistantSpans)).toEqual(['B.', 'D.']);
    expect(assistantSpans[0]![0]).toBe(text.indexOf('B.'));
  });

  test('an earlier turn’s <think> block is dropped by the template: the span is the answer that remains', () => {
    const { text, assistantSpans } = renderChat(
      [
        { role: 'user', content: 'A?' },
        { role: 'assistant', content: '<think>\nreasoning one\n</think>\n\nB.' },
        { role: 'user', content: 'C?' },
        { role: 'assistant', content: '<think>\nreasoning two\n</think>\n\nD.' },
      ],
      { tokenizer: qwen3 },
    );
    expect(text).toBe(
      '<|im_start|>user\nA?<|im_end|>\n<|im_start|>assistant\nB.<|im_end|>\n' +
        '<|im_start|>user\nC?<|im_end|>\n<|im_start|>assistant\n<think>\nreasoning two\n</think>\n\nD.<|im_end|>\n',
    );
    // The last turn keeps its reasoning, so it is supervised with it.
    expect(spansOf(text, assistantSpans)).toEqual(['B.', '<think>\nreasoning two\n</think>\n\nD.']);
  });

  test('a last turn whose think block the template re-formats: the span is what the template wrote', () => {
    const { text, assistantSpans } = renderChat(
      [
        { role: 'user', content: 'Q' },
        { role: 'assistant', content: '<think>why</think>Because.' },
      ],
      { tokenizer: qwen3 },
    );
    expect(text).toBe(
      '<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\n<think>\nwhy\n</think>\n\nBecause.<|im_end|>\n',
    );
    expect(spansOf(text, assistantSpans)).toEqual(['why\n</think>\n\nBecause.']);
  });

  test('assistant repeating the user: the span is the assistant’s copy, not the first occurrence', () => {
    const { text, assistantSpans } = renderChat(
      [
        { role: 'user', content: 'echo' },
        { role: 'assistant', content: 'echo' },
        { role: 'user', content: 'echo' },
        { role: 'assistant', content: 'echo' },
      ],
      { tokenizer: qwen3 },
    );
    const first = text.indexOf('assistant\necho') + 'assistant\n'.length;
    const last = text.lastIndexOf('echo');
    expect(assistantSpans).toEqual([
      [first, first + 4],
      [last, last + 4],
    ]);
  });

  test('generation prompt', () => {
    const { text, assistantSpans } = renderChat([{ role: 'user', content: 'Hi' }], {
      tokenizer: qwen3,
      addGenerationPrompt: true,
    });
    expect(text).toBe('<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n');
    expect(assistantSpans).toEqual([]);
    const noThinking = renderChat([{ role: 'user', content: 'Hi' }], {
      tokenizer: qwen3,
      addGenerationPrompt: true,
      variables: { enable_thinking: false },
    });
    expect(noThinking.text).toBe(
      '<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n',
    );
  });

  test('tool messages are rendered as the template says', () => {
    const { text } = renderChat(
      [
        { role: 'user', content: 'Weather?' },
        { role: 'assistant', content: 'Checking.' },
        { role: 'tool', content: '{"temp": 20}' },
        { role: 'assistant', content: '20 degrees.' },
      ],
      { tokenizer: qwen3 },
    );
    expect(text).toContain('<|im_start|>user\n<tool_response>\n{"temp": 20}\n</tool_response><|im_end|>\n');
  });
});

describe('renderChat with the Llama-3 template', () => {
  test('bos, headers, trimmed content; the span is the trimmed content', () => {
    const { text, assistantSpans } = renderChat(
      [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Hi' },
        { role: 'assistant', content: '  Hello!\n' },
      ],
      { tokenizer: llama3 },
    );
    expect(text).toBe(
      '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>' +
        '<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>' +
        '<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>' +
        // This template always ends with an assistant header.
        '<|start_header_id|>assistant<|end_header_id|>\n\n',
    );
    expect(spansOf(text, assistantSpans)).toEqual(['Hello!']);
  });

  test('multi-turn spans in order', () => {
    const messages: ChatMessage[] = [
      { role: 'user', content: 'one' },
      { role: 'assistant', content: 'two 😀' },
      { role: 'user', content: 'three' },
      { role: 'assistant', content: '中文\n\nfour' },
    ];
    const { text, assistantSpans } = renderChat(messages, { tokenizer: llama3 });
    expect(spansOf(text, assistantSpans)).toEqual(['two 😀', '中文\n\nfour']);
  });
});

describe('renderChat errors and options', () => {
  test('no template → CHAT_NO_TEMPLATE naming --chat-template FILE', () => {
    expect(() =>
      renderChat([{ role: 'user', content: 'x' }], { tokenizer: llama2, where: 'd.jsonl:4' }),
    ).toThrow(
      expect.objectContaining({
        code: 'CHAT_NO_TEMPLATE',
        message: expect.stringMatching(/^d\.jsonl:4: .*--chat-template FILE/),
      }),
    );
  });

  test('an explicit template wins; special tokens come from the tokenizer', () => {
    const chatTemplate =
      "{{ bos_token }}{% for m in messages %}{{ '[' + m.role + '] ' + m.content + ' ' }}{% if m.role == 'assistant' %}{{ eos_token }}{% endif %}{% endfor %}";
    const { text, assistantSpans } = renderChat(
      [
        { role: 'user', content: 'a' },
        { role: 'assistant', content: 'b' },
      ],
      { tokenizer: llama2, chatTemplate },
    );
    expect(text).toBe('<s>[user] a [assistant] b </s>');
    expect(assistantSpans).toEqual([[24, 25]]); // "<s>[user] a [assistant] " is 24 characters
  });

  test('raise_exception → CHAT_TEMPLATE_ERROR with the template’s message', () => {
    const chatTemplate =
      "{% if messages[0].role != 'system' %}{{ raise_exception('System message required') }}{% endif %}";
    expect(() =>
      renderChat([{ role: 'user', content: 'x' }], { tokenizer: llama2, chatTemplate, where: 'd.jsonl:9' }),
    ).toThrow(
      expect.objectContaining({
        code: 'CHAT_TEMPLATE_ERROR',
        message: expect.stringMatching(/^d\.jsonl:9: the chat template failed: System message required/),
      }),
    );
  });

  test('a template that does not parse → CHAT_TEMPLATE_ERROR', () => {
    expect(() =>
      renderChat([{ role: 'user', content: 'x' }], { tokenizer: llama2, chatTemplate: '{% if %}' }),
    ).toThrow(
      expect.objectContaining({
        code: 'CHAT_TEMPLATE_ERROR',
        message: expect.stringContaining('does not parse'),
      }),
    );
  });

  test('a template that drops assistant content → CHAT_SPAN_NOT_FOUND', () => {
    const chatTemplate =
      "{% for m in messages %}{% if m.role == 'user' %}{{ m.content }}{% endif %}{% endfor %}";
    expect(() =>
      renderChat(
        [
          { role: 'user', content: 'x' },
          { role: 'assistant', content: 'y' },
        ],
        { tokenizer: llama2, chatTemplate },
      ),
    ).toThrow(expect.objectContaining({ code: 'CHAT_SPAN_NOT_FOUND' }));
  });

  test('an empty assistant content gives an empty span where it would be', () => {
    const { text, assistantSpans } = renderChat(
      [
        { role: 'user', content: 'Hi' },
        { role: 'assistant', content: '' },
      ],
      { tokenizer: llama3 },
    );
    const at = text.indexOf('assistant<|end_header_id|>\n\n') + 'assistant<|end_header_id|>\n\n'.length;
    expect(assistantSpans).toEqual([[at, at]]);
  });
});
