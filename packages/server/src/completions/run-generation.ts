import { randomInt } from 'node:crypto';
import type { TokenizerLike } from '@fusechat/core';
import type { CausalLM } from '@fusechat/model';

/** Sampling parameters of one request, resolved (vLLM's `SamplingParams` subset this server implements). */
export interface GenerationParams {
  readonly maxTokens: number;
  /** 0 = greedy. */
  readonly temperature: number;
  readonly topP: number;
  /** 0 = all tokens. */
  readonly topK: number;
  /** vLLM's (and transformers') repetition_penalty over prompt + output ids; 1 = off. */
  readonly repetitionPenalty: number;
  readonly seed: number | undefined;
  readonly stop: readonly string[];
  readonly stopTokenIds: readonly number[];
  readonly ignoreEos: boolean;
  readonly includeStopStrInOutput: boolean;
  readonly skipSpecialTokens: boolean;
}

/** What one prompt's generation produced, as vLLM's `CompletionOutput`. */
export interface GenerationResult {
  /** Generated token ids (an EOS / stop token that ended it included, as vLLM). */
  readonly tokenIds: number[];
  readonly text: string;
  readonly finishReason: 'stop' | 'length';
  /** The stop string or stop token id that ended it; null for EOS or length. */
  readonly stopReason: string | number | null;
}

/** The text `ids` add after `prompt`: decoded `prompt + ids` minus the decoded prompt (keeps a SentencePiece word's leading space). */
export function decodeContinuation(
  tokenizer: TokenizerLike,
  prompt: readonly number[],
  ids: readonly number[],
  skipSpecialTokens: boolean,
): string {
  const options = { skipSpecialTokens };
  const promptText = tokenizer.decode(prompt, options);
  const full = tokenizer.decode([...prompt, ...ids], options);
  return full.startsWith(promptText) ? full.slice(promptText.length) : tokenizer.decode(ids, options);
}

/**
 * Generates from one prompt with the model's KV cache, decoding incrementally: the text is the
 * decoded `prompt + tokens` minus the decoded prompt (so a SentencePiece word keeps its leading
 * space), stop strings end generation and are cut from the text (vLLM's default), and
 * `onDelta` receives text that can no longer change (held back while it ends in U+FFFD or
 * could be the start of a stop string), so the concatenated deltas equal `text`.
 */
export async function runGeneration(
  model: CausalLM,
  tokenizer: TokenizerLike,
  prompt: readonly number[],
  params: GenerationParams,
  eosTokenIds: ReadonlySet<number>,
  onDelta?: (delta: string, tokenIds: readonly number[]) => void,
  /** Checked after every token: true stops generation (the streaming client went away). */
  shouldStop?: () => boolean,
): Promise<GenerationResult> {
  const decodeOptions = { skipSpecialTokens: params.skipSpecialTokens };
  const promptText = tokenizer.decode(prompt, decodeOptions);
  const continuation = (ids: readonly number[]): string => {
    const full = tokenizer.decode([...prompt, ...ids], decodeOptions);
    return full.startsWith(promptText) ? full.slice(promptText.length) : tokenizer.decode(ids, decodeOptions);
  };
  const holdBack = params.stop.reduce((longest, stop) => Math.max(longest, stop.length - 1), 0);
  const stopTokens = new Set([...params.stopTokenIds, ...(params.ignoreEos ? [] : eosTokenIds)]);
  const tokens: number[] = [];
  let emitted = '';
  let pendingIds: number[] = [];
  let stopString: { stop: string; at: number } | undefined;
  const emit = (safe: string): void => {
    if (safe.length > emitted.length && safe.startsWith(emitted)) {
      onDelta?.(safe.slice(emitted.length), pendingIds);
      emitted = safe;
      pendingIds = [];
    }
  };
  const findStop = (text: string): { stop: string; at: number } | undefined => {
    let found: { stop: string; at: number } | undefined;
    for (const stop of params.stop) {
      const at = text.indexOf(stop, Math.max(0, emitted.length - stop.length));
      if (at !== -1 && (found === undefined || at < found.at)) found = { stop, at };
    }
    return found;
  };
  const onToken = (token: number): boolean => {
    tokens.push(token);
    pendingIds.push(token);
    const text = continuation(tokens);
    if (params.stop.length > 0) {
      stopString = findStop(text);
      if (stopString !== undefined) return false;
    }
    if (!text.endsWith('\uFFFD')) emit(text.slice(0, text.length - holdBack));
    return shouldStop?.() !== true;
  };
  const seed = params.seed ?? randomInt(2 ** 31);
  const result = await model.generate(prompt, {
    maxNewTokens: params.maxTokens,
    temperature: params.temperature,
    topP: params.topP,
    ...(params.topK > 0 ? { topK: params.topK } : {}),
    repetitionPenalty: params.repetitionPenalty,
    seed,
    stopTokens: [...stopTokens],
    onToken,
  });
  // `generate` does not call onToken for the stop token that ends it.
  const unseen = result.tokens.slice(tokens.length);
  tokens.push(...unseen);
  pendingIds.push(...unseen);
  let text = continuation(tokens);
  let finishReason: 'stop' | 'length' = result.finishReason;
  let stopReason: string | number | null = null;
  if (stopString !== undefined) {
    text = text.slice(0, stopString.at + (params.includeStopStrInOutput ? stopString.stop.length : 0));
    finishReason = 'stop';
    stopReason = stopString.stop;
  } else if (result.finishReason === 'stop') {
    const last = tokens[tokens.length - 1]!;
    stopReason = params.stopTokenIds.includes(last) ? last : null;
  }
  if (onDelta !== undefined) {
    if (text.length > emitted.length && text.startsWith(emitted)) emit(text);
    else if (pendingIds.length > 0) onDelta('', pendingIds);
  }
  return { tokenIds: tokens, text, finishReason, stopReason };
}
