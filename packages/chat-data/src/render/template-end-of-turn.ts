import type { TokenizerLike } from '@fusechat/core';
import type { ChatMessage } from '../data/data-example.js';
import { isSpecialToken } from '../tokenize/token-offsets.js';
import { tokenizeExample } from '../tokenize/tokenize-example.js';

/**
 * The token a chat template writes to close an assistant turn (`<|im_end|>`, `<|eot_id|>`,
 * `</s>`…), read off the template itself: `messages` are rendered with a probe reply, and the
 * last token of the supervised mask (the reply and its end-of-turn token, as capture and training
 * mask it) is the end of turn when it is a special token. Undefined when the template closes a
 * turn with plain text. Generation stops there, as chat serving does.
 *
 * @throws the rendering's errors (`CHAT_NO_TEMPLATE`, `CHAT_TEMPLATE_ERROR`, …).
 * @example
 * ```ts
 * const endOfTurn = templateEndOfTurn([{ role: 'user', content: 'Hi' }], { tokenizer });
 * ```
 */
export function templateEndOfTurn(
  messages: readonly ChatMessage[],
  options: { tokenizer: TokenizerLike; chatTemplate?: string | undefined },
): number | undefined {
  const probe = tokenizeExample(
    {
      kind: 'chat',
      id: 'end-of-turn-probe',
      where: 'end-of-turn probe',
      messages: [...messages, { role: 'assistant', content: 'OK' }],
    },
    { tokenizer: options.tokenizer, chatTemplate: options.chatTemplate },
  );
  const last = probe.labelMask.lastIndexOf(1);
  const id = last < 0 ? undefined : probe.inputIds[last];
  return id !== undefined && isSpecialToken(options.tokenizer, id) ? id : undefined;
}
