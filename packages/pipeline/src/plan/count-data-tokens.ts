import { readDataFile, type TruncationPolicy, tokenizeExample } from '@fusechat/chat-data';
import type { TokenizerLike } from '@fusechat/core';

/** Options of {@link countDataTokens}: what capture renders and tokenises with. */
export interface CountDataTokensOptions {
  readonly tokenizer: TokenizerLike;
  /** The chat template text (default: the tokenizer's own). */
  readonly chatTemplate?: string | undefined;
  readonly maxLength?: number | undefined;
  readonly truncation?: TruncationPolicy | undefined;
  readonly templateVariables?: Readonly<Record<string, unknown>> | undefined;
}

/** Exact sizes of a data file under one tokenizer. */
export interface DataTokenCounts {
  readonly examples: number;
  readonly tokens: number;
  readonly supervisedTokens: number;
  /** Examples cut to `maxLength`. */
  readonly truncated: number;
  /** Tokens of each example, in data order (what capture stores and training batches). */
  readonly lengths: readonly number[];
  /** Wall time of reading, rendering and tokenising (capture pays it too). */
  readonly seconds: number;
}

/**
 * Counts the tokens a capture of `data` stores, exactly: every line read, rendered with the chat
 * template and tokenised by `tokenizeExample` with the same truncation as capture, so the counts
 * are those of the store's manifest (`examples`, `tokens`, `supervisedTokens`).
 *
 * @example
 * ```ts
 * const counts = await countDataTokens('train.jsonl', { tokenizer, maxLength: 512 });
 * counts.tokens; // Σ example lengths after truncation
 * ```
 */
export async function countDataTokens(
  data: string,
  options: CountDataTokensOptions,
): Promise<DataTokenCounts> {
  const started = performance.now();
  const lengths: number[] = [];
  let tokens = 0;
  let supervisedTokens = 0;
  let truncated = 0;
  for await (const example of readDataFile(data)) {
    const result = tokenizeExample(example, {
      tokenizer: options.tokenizer,
      chatTemplate: options.chatTemplate ?? options.tokenizer.chatTemplate,
      maxLength: options.maxLength,
      truncation: options.truncation ?? 'keep-first',
      templateVariables: options.templateVariables,
    });
    lengths.push(result.inputIds.length);
    tokens += result.inputIds.length;
    for (const bit of result.labelMask) supervisedTokens += bit;
    if (result.truncated) truncated++;
  }
  return {
    examples: lengths.length,
    tokens,
    supervisedTokens,
    truncated,
    lengths,
    seconds: (performance.now() - started) / 1000,
  };
}
