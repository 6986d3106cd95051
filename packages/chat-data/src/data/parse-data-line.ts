import { InvalidInputError } from '@fusechat/core';
import { type ChatMessage, type ChatRole, type DataExample, IGNORE_LABEL } from './data-example.js';

/** Where a line came from: the file and its 1-based line number. */
export interface LineLocation {
  readonly path: string;
  readonly line: number;
}

/** A data line's content before it is given an id. */
export type ParsedDataLine = DataExample extends infer E
  ? E extends DataExample
    ? Omit<E, 'id' | 'where'>
    : never
  : never;

const OPENAI_ROLES: ReadonlySet<string> = new Set(['system', 'user', 'assistant', 'tool']);

/** ShareGPT `from` values and the role each becomes (LLaMA-Factory's and FastChat's spellings). */
export const SHAREGPT_ROLES: Readonly<Record<string, ChatRole>> = Object.freeze({
  system: 'system',
  human: 'user',
  user: 'user',
  gpt: 'assistant',
  assistant: 'assistant',
  chatgpt: 'assistant',
  model: 'assistant',
  function_call: 'assistant',
  tool: 'tool',
  function: 'tool',
  observation: 'tool',
});

/**
 * Classifies and validates one parsed JSONL object (DESIGN §4): OpenAI `messages`, ShareGPT
 * `conversations`, `{"text"}` or `{"input_ids", "labels"}`. Pre-tokenised ids win when a line also
 * carries `text` (tokenised datasets often keep both).
 *
 * @throws InvalidInputError with a `CHAT_…` code and the `file:line` first in the message.
 * @example
 * ```ts
 * parseDataLine({ conversations: [{ from: 'human', value: 'Hi' }, { from: 'gpt', value: 'Hello' }] },
 *   { path: 'train.jsonl', line: 3 });
 * // { kind: 'chat', messages: [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hello' }] }
 * ```
 */
export function parseDataLine(value: Readonly<Record<string, unknown>>, at: LineLocation): ParsedDataLine {
  if (value.input_ids !== undefined) return parseTokens(value, at);
  if (value.messages !== undefined) return { kind: 'chat', messages: parseMessages(value.messages, at) };
  if (value.conversations !== undefined) {
    return { kind: 'chat', messages: parseConversations(value.conversations, at) };
  }
  if (value.text !== undefined) {
    if (typeof value.text !== 'string') {
      fail(at, 'CHAT_INVALID_CONTENT', 'text', `"text" must be a string, got ${describeValue(value.text)}`);
    }
    return { kind: 'text', text: value.text };
  }
  const keys = Object.keys(value);
  return fail(
    at,
    'CHAT_UNKNOWN_FORMAT',
    undefined,
    `expected {"messages": […]}, {"conversations": […]}, {"text": …} or {"input_ids": […], "labels": […]}, got ${
      keys.length === 0 ? 'an empty object' : `keys ${keys.map((key) => JSON.stringify(key)).join(', ')}`
    }`,
  );
}

function parseMessages(value: unknown, at: LineLocation): ChatMessage[] {
  if (!Array.isArray(value)) {
    fail(at, 'CHAT_INVALID_MESSAGES', 'messages', `"messages" must be an array, got ${describeValue(value)}`);
  }
  const messages = value.map((entry, index): ChatMessage => {
    const field = `messages[${index}]`;
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) {
      fail(at, 'CHAT_INVALID_MESSAGES', field, `${field} must be an object, got ${describeValue(entry)}`);
    }
    const { role, content } = entry as { role?: unknown; content?: unknown };
    if (typeof role !== 'string' || !OPENAI_ROLES.has(role)) {
      fail(
        at,
        'CHAT_UNKNOWN_ROLE',
        `${field}.role`,
        `${field}.role is ${describeValue(role)}; known roles: ${[...OPENAI_ROLES].join(', ')}`,
      );
    }
    return { role: role as ChatRole, content: parseContent(content, at, `${field}.content`) };
  });
  return checkConversation(messages, at, 'messages');
}

function parseConversations(value: unknown, at: LineLocation): ChatMessage[] {
  if (!Array.isArray(value)) {
    fail(
      at,
      'CHAT_INVALID_MESSAGES',
      'conversations',
      `"conversations" must be an array, got ${describeValue(value)}`,
    );
  }
  const messages = value.map((entry, index): ChatMessage => {
    const field = `conversations[${index}]`;
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) {
      fail(at, 'CHAT_INVALID_MESSAGES', field, `${field} must be an object, got ${describeValue(entry)}`);
    }
    const { from, value: content } = entry as { from?: unknown; value?: unknown };
    const role = typeof from === 'string' ? SHAREGPT_ROLES[from.toLowerCase()] : undefined;
    if (role === undefined) {
      fail(
        at,
        'CHAT_UNKNOWN_ROLE',
        `${field}.from`,
        `${field}.from is ${describeValue(from)}; known values: ${Object.keys(SHAREGPT_ROLES).join(', ')}`,
      );
    }
    return { role, content: parseContent(content, at, `${field}.value`) };
  });
  return checkConversation(messages, at, 'conversations');
}

function parseContent(content: unknown, at: LineLocation, field: string): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content
      .map((part, index) => {
        const { type, text } = (part ?? {}) as { type?: unknown; text?: unknown };
        if (type !== 'text' || typeof text !== 'string') {
          fail(
            at,
            'CHAT_INVALID_CONTENT',
            `${field}[${index}]`,
            `${field}[${index}] is ${describeValue(part)}; only {"type": "text", "text": "…"} parts are supported`,
          );
        }
        return text;
      })
      .join('');
  }
  return fail(
    at,
    'CHAT_INVALID_CONTENT',
    field,
    `${field} must be a string or a list of {"type": "text", "text": …} parts, got ${describeValue(content)}`,
  );
}

function checkConversation(messages: ChatMessage[], at: LineLocation, field: string): ChatMessage[] {
  if (messages.length === 0) {
    fail(at, 'CHAT_EMPTY_CONVERSATION', field, `"${field}" is empty; a conversation needs at least one turn`);
  }
  if (!messages.some((message) => message.role === 'assistant')) {
    fail(
      at,
      'CHAT_NO_ASSISTANT',
      field,
      `the conversation has no assistant turn, so nothing would be supervised (roles: ${messages
        .map((message) => message.role)
        .join(', ')})`,
    );
  }
  return messages;
}

function parseTokens(value: Readonly<Record<string, unknown>>, at: LineLocation): ParsedDataLine {
  const inputIds = integerList(value.input_ids, 'input_ids', at, false);
  if (inputIds.length === 0) fail(at, 'CHAT_INVALID_TOKEN_IDS', 'input_ids', '"input_ids" is empty');
  if (value.labels === undefined || value.labels === null) return { kind: 'tokens', inputIds };
  const labels = integerList(value.labels, 'labels', at, true);
  if (labels.length !== inputIds.length) {
    fail(
      at,
      'CHAT_INVALID_TOKEN_IDS',
      'labels',
      `"labels" has ${labels.length} entries but "input_ids" has ${inputIds.length}; they must align`,
    );
  }
  labels.forEach((label, index) => {
    if (label !== IGNORE_LABEL && label !== inputIds[index]) {
      fail(
        at,
        'CHAT_INVALID_TOKEN_IDS',
        `labels[${index}]`,
        `labels[${index}] = ${label} but input_ids[${index}] = ${inputIds[index]}; a label is −100 (not supervised) or the id at its position (unshifted, as transformers expects)`,
      );
    }
  });
  return { kind: 'tokens', inputIds, labels };
}

function integerList(value: unknown, field: string, at: LineLocation, allowIgnore: boolean): number[] {
  if (!Array.isArray(value)) {
    fail(
      at,
      'CHAT_INVALID_TOKEN_IDS',
      field,
      `"${field}" must be an array of token ids, got ${describeValue(value)}`,
    );
  }
  value.forEach((entry, index) => {
    const ok =
      Number.isSafeInteger(entry) && ((entry as number) >= 0 || (allowIgnore && entry === IGNORE_LABEL));
    if (!ok) {
      fail(
        at,
        'CHAT_INVALID_TOKEN_IDS',
        `${field}[${index}]`,
        `${field}[${index}] = ${JSON.stringify(entry)} is not a token id (a non-negative integer${allowIgnore ? ', or −100 for "not supervised"' : ''})`,
      );
    }
  });
  return value as number[];
}

function describeValue(value: unknown): string {
  if (value === undefined) return 'missing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  const text = JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}…` : text;
}

function fail(at: LineLocation, code: string, field: string | undefined, problem: string): never {
  throw new InvalidInputError(`${at.path}:${at.line}: ${problem}.`, {
    code,
    ...(field === undefined ? {} : { field }),
    details: { path: at.path, line: at.line, where: `${at.path}:${at.line}` },
  });
}
