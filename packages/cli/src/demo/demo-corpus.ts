import { InvalidInputError, type TokenizerLike } from '@fusechat/core';
import { mobyDickChapter } from './demo-assets.js';

/** One chat turn of the demo data: a user prompt and the assistant's reply. */
export interface DemoConversation {
  readonly id: string;
  readonly prompt: string;
  readonly response: string;
}

/** A conversation tokenised by one tokenizer, with the assistant's tokens marked as labels. */
export interface TokenizedConversation {
  readonly id: string;
  readonly inputIds: Int32Array;
  /** 1 = supervised (the reply and the closing EOS), 0 = context. */
  readonly labelMask: Uint8Array;
}

/**
 * Conversations built from real text: the user quotes a sentence (or clause, split at `.!?;:`)
 * of Moby-Dick and asks for the next one; the assistant answers with it. Pieces longer than
 * `maxCharacters` are skipped; chapters are read in order.
 *
 * @example
 * ```ts
 * const conversations = mobyDickConversations([1, 2], { maxCharacters: 160 });
 * conversations[0].prompt; // 'Continue the story: Call me Ishmael.'
 * ```
 */
export function mobyDickConversations(
  chapters: readonly number[],
  options: { maxCharacters?: number } = {},
): DemoConversation[] {
  const maxCharacters = options.maxCharacters ?? 160;
  const conversations: DemoConversation[] = [];
  for (const chapter of chapters) {
    const body = mobyDickChapter(chapter).split('\n').slice(1).join(' ');
    const sentences = body
      .replace(/\s+/g, ' ')
      .split(/(?<=[.!?;:])\s+/)
      .map((sentence) => sentence.trim())
      .filter((sentence) => sentence.length > 0);
    for (let index = 0; index + 1 < sentences.length; index++) {
      const [first, next] = [sentences[index]!, sentences[index + 1]!];
      if (first.length > maxCharacters || next.length > maxCharacters) continue;
      conversations.push({
        id: `moby-dick/${chapter}/${index}`,
        prompt: `Continue the story: ${first}`,
        response: next,
      });
    }
  }
  return conversations;
}

/**
 * Renders a conversation with a plain `User:` / `Assistant:` template and tokenises it: BOS (when
 * the tokenizer has one), the context, then the reply and EOS as supervised labels. The reply is
 * encoded on its own, as a continuation after a space, so its label span is exact.
 *
 * @example
 * ```ts
 * const { inputIds, labelMask } = tokenizeConversation(mistral, conversation);
 * ```
 */
export function tokenizeConversation(
  tokenizer: TokenizerLike,
  conversation: DemoConversation,
): TokenizedConversation {
  const { bos, eos } = tokenizer.specialTokens;
  if (eos === undefined) {
    throw new InvalidInputError('the demo tokenizer has no EOS token to end a reply with', {
      code: 'DEMO_NO_EOS',
    });
  }
  const context = [
    ...(bos === undefined ? [] : [bos]),
    ...tokenizer.encode(`User: ${conversation.prompt}\nAssistant:`, { addSpecialTokens: false }),
  ];
  // SentencePiece tokenizers prepend the space marker themselves; byte-level BPE needs the space.
  const replyText =
    tokenizer.spaceMarker === 'sentencepiece' ? conversation.response : ` ${conversation.response}`;
  const reply = [...tokenizer.encode(replyText, { addSpecialTokens: false }), eos];
  const inputIds = Int32Array.from([...context, ...reply]);
  const labelMask = new Uint8Array(inputIds.length);
  labelMask.fill(1, context.length);
  return { id: conversation.id, inputIds, labelMask };
}
