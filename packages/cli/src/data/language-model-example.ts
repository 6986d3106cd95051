import { InvalidInputError } from '@fusechat/core';

/**
 * One line of LM data (DESIGN §4), by kind: plain text (every token supervised), pre-tokenised ids
 * with optional labels (−100 = not supervised), or a chat conversation (`messages`, or ShareGPT
 * `conversations`) that needs a chat template to become tokens.
 */
export type LanguageModelExample =
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'tokens'; readonly inputIds: number[]; readonly labels: number[] | undefined }
  | { readonly kind: 'chat'; readonly field: 'messages' | 'conversations' };

/** The label that marks a position as not supervised (`transformers`' ignore index). */
export const IGNORE_LABEL = -100;

/**
 * Classifies and validates one parsed JSONL object. `where` (`file:line`) starts every message.
 * Pre-tokenised ids win when a line also carries `text` (tokenised datasets often keep both).
 *
 * @throws InvalidInputError `CLI_INVALID_EXAMPLE` naming the line and the field.
 * @example
 * ```ts
 * parseLanguageModelExample({ input_ids: [1, 5, 9], labels: [-100, 5, 9] }, 'eval.jsonl:3');
 * // { kind: 'tokens', inputIds: [1, 5, 9], labels: [-100, 5, 9] }
 * ```
 */
export function parseLanguageModelExample(
  value: Readonly<Record<string, unknown>>,
  where: string,
): LanguageModelExample {
  if (value.input_ids !== undefined) {
    const inputIds = integerList(value.input_ids, 'input_ids', where, false);
    if (inputIds.length === 0) fail(where, 'input_ids', 'is empty');
    if (value.labels === undefined || value.labels === null)
      return { kind: 'tokens', inputIds, labels: undefined };
    const labels = integerList(value.labels, 'labels', where, true);
    if (labels.length !== inputIds.length) {
      fail(
        where,
        'labels',
        `has ${labels.length} entries but input_ids has ${inputIds.length}; they must align`,
      );
    }
    return { kind: 'tokens', inputIds, labels };
  }
  if (value.messages !== undefined || value.conversations !== undefined) {
    const field = value.messages !== undefined ? 'messages' : 'conversations';
    if (!Array.isArray(value[field])) fail(where, field, 'must be an array of turns');
    return { kind: 'chat', field };
  }
  if (value.text !== undefined) {
    if (typeof value.text !== 'string') fail(where, 'text', 'must be a string');
    return { kind: 'text', text: value.text };
  }
  const keys = Object.keys(value);
  throw new InvalidInputError(
    `${where}: expected {"text": …}, {"input_ids": […], "labels": […]}, {"messages": […]} or {"conversations": […]}, got ${
      keys.length === 0 ? 'an empty object' : `keys ${keys.map((key) => JSON.stringify(key)).join(', ')}`
    }.`,
    { code: 'CLI_INVALID_EXAMPLE', details: { where } },
  );
}

function integerList(value: unknown, field: string, where: string, allowIgnore: boolean): number[] {
  if (!Array.isArray(value)) fail(where, field, 'must be an array of token ids');
  value.forEach((entry, index) => {
    const ok = Number.isInteger(entry) && ((entry as number) >= 0 || (allowIgnore && entry === IGNORE_LABEL));
    if (!ok) {
      fail(
        where,
        field,
        `[${index}] = ${JSON.stringify(entry)} is not a token id (a non-negative integer${allowIgnore ? ', or −100 for "not supervised"' : ''})`,
      );
    }
  });
  return value as number[];
}

function fail(where: string, field: string, problem: string): never {
  throw new InvalidInputError(`${where}: "${field}" ${problem}.`, {
    code: 'CLI_INVALID_EXAMPLE',
    field,
    details: { where },
  });
}
