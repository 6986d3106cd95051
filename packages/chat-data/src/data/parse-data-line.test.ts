import { describe, expect, test } from 'vitest';
import { parseDataLine } from './parse-data-line.js';

const at = { path: 'train.jsonl', line: 7 };

function errorOf(value: Record<string, unknown>): { code: string; message: string; field: unknown } {
  try {
    parseDataLine(value, at);
  } catch (error) {
    const { code, message, details } = error as {
      code: string;
      message: string;
      details: { field: unknown };
    };
    return { code, message, field: details.field };
  }
  throw new Error('expected an error');
}

describe('parseDataLine', () => {
  test('ShareGPT "from" values map onto roles', () => {
    const parsed = parseDataLine(
      {
        conversations: [
          { from: 'system', value: 's' },
          { from: 'human', value: 'h' },
          { from: 'gpt', value: 'g' },
          { from: 'user', value: 'u' },
          { from: 'assistant', value: 'a' },
          { from: 'observation', value: 'o' },
          { from: 'GPT', value: 'G' },
        ],
      },
      at,
    );
    expect(parsed).toEqual({
      kind: 'chat',
      messages: [
        { role: 'system', content: 's' },
        { role: 'user', content: 'h' },
        { role: 'assistant', content: 'g' },
        { role: 'user', content: 'u' },
        { role: 'assistant', content: 'a' },
        { role: 'tool', content: 'o' },
        { role: 'assistant', content: 'G' },
      ],
    });
  });

  test('OpenAI content given as text parts is joined', () => {
    const parsed = parseDataLine(
      {
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'Hello ' },
              { type: 'text', text: 'there' },
            ],
          },
          { role: 'assistant', content: 'Hi' },
        ],
      },
      at,
    );
    expect(parsed).toMatchObject({
      messages: [{ role: 'user', content: 'Hello there' }, { role: 'assistant' }],
    });
  });

  test('pre-tokenised ids win over text; labels optional', () => {
    expect(parseDataLine({ input_ids: [1, 2], text: 'ignored' }, at)).toEqual({
      kind: 'tokens',
      inputIds: [1, 2],
    });
  });

  test.each([
    [
      { messages: [{ role: 'user', content: [{ type: 'image_url', image_url: 'x' }] }] },
      'CHAT_INVALID_CONTENT',
      'messages[0].content[0]',
    ],
    [{ messages: [{ role: 'assistant', content: null }] }, 'CHAT_INVALID_CONTENT', 'messages[0].content'],
    [{ messages: [{ role: 'user' }, 'x'] }, 'CHAT_INVALID_CONTENT', 'messages[0].content'],
    [{ messages: 'hello' }, 'CHAT_INVALID_MESSAGES', 'messages'],
    [{ conversations: [] }, 'CHAT_EMPTY_CONVERSATION', 'conversations'],
    [{ conversations: [{ from: 'human', value: 'x' }] }, 'CHAT_NO_ASSISTANT', 'conversations'],
    [{ text: 3 }, 'CHAT_INVALID_CONTENT', 'text'],
    [{ input_ids: [] }, 'CHAT_INVALID_TOKEN_IDS', 'input_ids'],
    [{ input_ids: [1, -1] }, 'CHAT_INVALID_TOKEN_IDS', 'input_ids[1]'],
    [{ input_ids: [1, '2'] }, 'CHAT_INVALID_TOKEN_IDS', 'input_ids[1]'],
    [{ input_ids: [1, 2], labels: [1] }, 'CHAT_INVALID_TOKEN_IDS', 'labels'],
    [{ input_ids: [1, 2], labels: [-100, 3] }, 'CHAT_INVALID_TOKEN_IDS', 'labels[1]'],
    [{ input_ids: [1, 2], labels: [-1, 2] }, 'CHAT_INVALID_TOKEN_IDS', 'labels[0]'],
  ])('%j → %s on %s', (value, code, field) => {
    const error = errorOf(value);
    expect(error).toMatchObject({ code, field });
    expect(error.message.startsWith('train.jsonl:7: ')).toBe(true);
  });

  test('the unknown-role message lists the known roles', () => {
    expect(errorOf({ messages: [{ role: 'bot', content: 'x' }] }).message).toContain(
      'known roles: system, user, assistant, tool',
    );
  });
});
