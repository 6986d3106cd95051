/** The roles a chat message may have once read (ShareGPT's `from` values are mapped onto these). */
export type ChatRole = 'system' | 'user' | 'assistant' | 'tool';

/** One turn of a conversation, its content as plain text (OpenAI text parts are joined). */
export interface ChatMessage {
  readonly role: ChatRole;
  readonly content: string;
}

/**
 * One line of a data file (DESIGN §4), by kind. `id` is stable across models (the line's `id`
 * field, else derived from the line's text); `where` is `file:line`, for messages.
 */
export type DataExample =
  | { readonly kind: 'chat'; readonly id: string; readonly where: string; readonly messages: ChatMessage[] }
  | { readonly kind: 'text'; readonly id: string; readonly where: string; readonly text: string }
  | {
      readonly kind: 'tokens';
      readonly id: string;
      readonly where: string;
      readonly inputIds: number[];
      /** Same length as `inputIds`; −100 = not supervised, else equal to the id at that position. */
      readonly labels?: number[] | undefined;
    };

/** The label that marks a position as not supervised (`transformers`' ignore index). */
export const IGNORE_LABEL = -100;
