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
 * The chat template of the demo's models (Jinja, rendered by `@huggingface/jinja` like any
 * model's own): `User: …` / `Assistant: …` turns, BOS first when the vocabulary has one, EOS closing
 * each reply. Written into every demo model's `tokenizer_config.json`, so `fusechat capture`,
 * `eval` and `generate` find it there.
 */
export const DEMO_CHAT_TEMPLATE = [
  '{% if bos_token %}{{ bos_token }}{% endif %}',
  "{% for message in messages %}{% if message['role'] == 'user' %}{{ 'User: ' + message['content'] + '\\n' }}",
  "{% elif message['role'] == 'assistant' %}{{ 'Assistant: ' + message['content'] + eos_token }}{% endif %}{% endfor %}",
  "{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}",
].join('');

/**
 * A conversation as a line of chat JSONL (DESIGN §4): `{"id", "messages": [user, assistant]}`.
 *
 * @example
 * ```ts
 * chatLine({ id: 'moby-dick/1/0', prompt: 'Continue the story: Call me Ishmael.', response: 'Some years ago…' });
 * ```
 */
export function chatLine(conversation: DemoConversation): string {
  return JSON.stringify({
    id: conversation.id,
    messages: [
      { role: 'user', content: conversation.prompt },
      { role: 'assistant', content: conversation.response },
    ],
  });
}
