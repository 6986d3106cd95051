import { InvalidInputError, type TokenizerLike } from '@fusechat/core';
import { type DataExample, IGNORE_LABEL } from '../data/data-example.js';
import { renderChat } from '../render/render-chat.js';
import { isSpecialToken, tokenOffsets } from './token-offsets.js';

/** What to do with an example longer than `maxLength` tokens. */
export type TruncationPolicy = 'keep-first' | 'keep-last' | 'refuse';

export interface TokenizeExampleOptions {
  readonly tokenizer: TokenizerLike;
  /** Jinja chat template for chat examples; overrides `tokenizer.chatTemplate`. */
  readonly chatTemplate?: string | undefined;
  /** Longest sequence kept, in tokens (no limit when absent). */
  readonly maxLength?: number | undefined;
  /** Default `keep-first` (the first `maxLength` tokens); `refuse` throws `CHAT_TOO_LONG`. */
  readonly truncation?: TruncationPolicy | undefined;
  /** Extra chat-template variables (`enable_thinking`, `date_string`…). */
  readonly templateVariables?: Readonly<Record<string, unknown>> | undefined;
}

/** An example as tokens: `labelMask[t] = 1` ⇒ token t is a target (predicted from the tokens before it). */
export interface TokenizedExample {
  readonly id: string;
  readonly where: string;
  readonly inputIds: Int32Array;
  readonly labelMask: Uint8Array;
  /** Whether `maxLength` cut the example. */
  readonly truncated: boolean;
}

/**
 * Turns a data example into token ids and a label mask.
 *
 * - chat: rendered with the chat template ({@link renderChat}) and encoded without adding special
 *   tokens (the template writes them; as transformers' `apply_chat_template(tokenize=True)`). A
 *   token is supervised when its characters overlap an assistant message's rendered content; so
 *   is the end-of-turn token that closes it: the token right after the last content token when
 *   it is a special token (eos, `<|im_end|>`, `<|eot_id|>`…), also through whitespace-only tokens
 *   in between (Llama-2's `content + ' ' + eos`), which are then supervised too.
 * - text: encoded with the special tokens the tokenizer adds; every token supervised.
 * - tokens: taken as they are; a label of −100 is not supervised.
 *
 * @throws InvalidInputError `CHAT_TOO_LONG` (`truncation: 'refuse'`), `CHAT_TOKEN_OUT_OF_VOCABULARY`,
 *   and the errors of {@link renderChat}; each message starts with the example's `file:line`.
 * @example
 * ```ts
 * const { inputIds, labelMask, truncated } = tokenizeExample(example, { tokenizer, maxLength: 2048 });
 * ```
 */
export function tokenizeExample(example: DataExample, options: TokenizeExampleOptions): TokenizedExample {
  const { tokenizer } = options;
  let ids: number[];
  let mask: Uint8Array;
  if (example.kind === 'chat') {
    const rendered = renderChat(example.messages, {
      tokenizer,
      chatTemplate: options.chatTemplate,
      addGenerationPrompt: false,
      variables: options.templateVariables,
      where: example.where,
    });
    ids = tokenizer.encode(rendered.text, { addSpecialTokens: false });
    mask = assistantMask(tokenizer, ids, rendered.text, rendered.assistantSpans);
  } else if (example.kind === 'text') {
    ids = tokenizer.encode(example.text);
    mask = new Uint8Array(ids.length).fill(1);
  } else {
    ids = example.inputIds;
    mask = new Uint8Array(ids.length);
    for (let t = 0; t < ids.length; t++) mask[t] = example.labels?.[t] === IGNORE_LABEL ? 0 : 1;
  }
  checkVocabulary(ids, tokenizer.vocabSize, example.where);

  const maxLength = options.maxLength;
  const truncation = options.truncation ?? 'keep-first';
  if (maxLength !== undefined && (!Number.isSafeInteger(maxLength) || maxLength < 1)) {
    throw new InvalidInputError(`maxLength must be a positive integer, got ${maxLength}.`, {
      code: 'CHAT_INVALID_OPTION',
      field: 'maxLength',
    });
  }
  let truncated = false;
  let from = 0;
  let to = ids.length;
  if (maxLength !== undefined && ids.length > maxLength) {
    truncated = true;
    if (truncation === 'refuse') {
      throw new InvalidInputError(
        `${example.where}: the example has ${ids.length} tokens, more than the maximum length ${maxLength}; raise --max-length or choose a truncation policy (keep-first, keep-last).`,
        {
          code: 'CHAT_TOO_LONG',
          field: 'maxLength',
          details: { where: example.where, length: ids.length, maxLength },
        },
      );
    }
    if (truncation === 'keep-last') from = ids.length - maxLength;
    else if (truncation === 'keep-first') to = maxLength;
    else {
      throw new InvalidInputError(
        `unknown truncation policy ${JSON.stringify(truncation)}; known: keep-first, keep-last, refuse.`,
        { code: 'CHAT_INVALID_OPTION', field: 'truncation' },
      );
    }
  }
  return {
    id: example.id,
    where: example.where,
    inputIds: Int32Array.from(ids.slice(from, to)),
    labelMask: mask.slice(from, to),
    truncated,
  };
}

/** How many whitespace-only tokens may sit between an assistant's content and its end-of-turn token. */
const MAX_WHITESPACE_BEFORE_END_OF_TURN = 2;

function assistantMask(
  tokenizer: TokenizerLike,
  ids: readonly number[],
  text: string,
  spans: readonly (readonly [number, number])[],
): Uint8Array {
  const mask = new Uint8Array(ids.length);
  if (spans.length === 0) return mask;
  const { starts, ends } = tokenOffsets(tokenizer, ids, text);
  let t = 0;
  for (const [spanStart, spanEnd] of spans) {
    while (t < ids.length && ends[t]! <= spanStart && !(starts[t] === spanStart && ends[t] === spanStart))
      t++;
    let last = -1;
    for (; t < ids.length && starts[t]! < spanEnd; t++) {
      if (ends[t]! > spanStart) {
        mask[t] = 1;
        last = t;
      }
    }
    // The end-of-turn token: next after the content (after its last token, or at an empty span).
    let next = last === -1 ? t : last + 1;
    const whitespace: number[] = [];
    while (
      next < ids.length &&
      whitespace.length < MAX_WHITESPACE_BEFORE_END_OF_TURN &&
      !isSpecialToken(tokenizer, ids[next]!) &&
      text.slice(starts[next], ends[next]).trim() === ''
    ) {
      whitespace.push(next++);
    }
    if (next < ids.length && isSpecialToken(tokenizer, ids[next]!)) {
      for (const index of whitespace) mask[index] = 1;
      mask[next] = 1;
      t = Math.max(t, next + 1);
    }
  }
  return mask;
}

function checkVocabulary(ids: readonly number[], vocabSize: number, where: string): void {
  for (let t = 0; t < ids.length; t++) {
    const id = ids[t]!;
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
      throw new InvalidInputError(
        `${where}: token ${t} has id ${id}, outside the tokenizer's vocabulary (0…${vocabSize - 1}); was the data tokenised for another model?`,
        { code: 'CHAT_TOKEN_OUT_OF_VOCABULARY', details: { where, position: t, id, vocabSize } },
      );
    }
  }
}
