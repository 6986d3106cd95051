import { createReadStream } from 'node:fs';
import { type DataExample, readDataFile, type TruncationPolicy, tokenizeExample } from '@fusechat/chat-data';
import {
  type FuseChatError,
  InvalidInputError,
  type Logger,
  silentLogger,
  type TokenizerLike,
} from '@fusechat/core';
import type { StoreIdentity, StoreManifest } from '@fusechat/distribution-store';
import {
  type CaptureStoreOptions,
  type CaptureSummary,
  captureDistributions,
} from '../capture-distributions.js';
import type { CaptureIdentityOptions } from '../capture-identity.js';
import type { CaptureExample, CaptureProgressEvent } from '../capture-into-writer.js';
import type { LogitsProvider } from '../logits-provider.js';

/** Options of {@link captureDataFile}: what every capture from a JSONL data file shares. */
export interface CaptureDataFileOptions {
  /** Runs the model (called from the first window that is not committed yet). */
  readonly provider: LogitsProvider;
  /** Renders and tokenises the data (the provider's tokenizer). */
  readonly tokenizer: TokenizerLike;
  /** The chat template text used, or null for none. */
  readonly chatTemplate: string | null;
  /** Ids must be below this (the model's output size). */
  readonly vocabSize: number;
  readonly data: string;
  readonly out: string;
  readonly k: number;
  /** Longest sequence kept (undefined: no limit). */
  readonly maxLength?: number | undefined;
  readonly truncation?: TruncationPolicy | undefined;
  readonly templateVariables?: Readonly<Record<string, string | number | boolean>> | undefined;
  readonly skipInvalid?: boolean | undefined;
  readonly limit?: number | undefined;
  /** The store identity, from the capture options that change the store's content. */
  readonly identity: (capture: CaptureIdentityOptions) => Promise<StoreIdentity>;
  /** Tokens per provider call (the capture window; default captureDistributions'). */
  readonly batchTokens?: number | undefined;
  readonly store?: CaptureStoreOptions | undefined;
  readonly onProgress?: ((event: CaptureProgressEvent) => void) | undefined;
  readonly logger?: Logger | undefined;
  readonly signal?: AbortSignal | undefined;
}

/** What a capture from a data file did. */
export interface CaptureDataFileSummary extends CaptureSummary {
  /** Data lines skipped as invalid (`skipInvalid`). */
  readonly invalid: number;
  /** Examples cut to `maxLength`. */
  readonly truncated: number;
  readonly manifest: StoreManifest;
}

/**
 * The capture stage over a JSONL data file, shared by `captureLocalModel` and
 * `captureRemoteModel`: builds the store identity from the capture options (k, max length,
 * truncation, skipInvalid, limit, template variables), counts the lines for progress, renders and
 * tokenises every example in data order (assistant-only labels; ids checked against `vocabSize`)
 * and runs `captureDistributions` — resuming an interrupted store of the same identity.
 *
 * @example
 * ```ts
 * const summary = await captureDataFile({ provider, tokenizer, chatTemplate: tokenizer.chatTemplate ?? null,
 *   vocabSize: tokenizer.vocabSize, data: 'train.jsonl', out: 'cap/qwen', k: 10, maxLength: 2048,
 *   identity: (capture) => myIdentity(capture) });
 * ```
 */
export async function captureDataFile(options: CaptureDataFileOptions): Promise<CaptureDataFileSummary> {
  const logger = options.logger ?? silentLogger;
  const truncation = options.truncation ?? 'keep-first';
  const maxLength = options.maxLength;
  const identity = await options.identity({
    k: options.k,
    maxLength: maxLength ?? null,
    truncation: maxLength === undefined ? null : truncation,
    // Both change which examples the store holds.
    skipInvalid: options.skipInvalid ?? false,
    limit: options.limit ?? null,
    templateVariables:
      options.templateVariables === undefined || Object.keys(options.templateVariables).length === 0
        ? null
        : JSON.stringify(Object.fromEntries(Object.entries(options.templateVariables).sort())),
  });
  const total = Math.min(await countDataLines(options.data), options.limit ?? Number.POSITIVE_INFINITY);
  let invalid = 0;
  let truncated = 0;
  const onInvalid = (error: FuseChatError) => {
    invalid++;
    logger.warn(`skipped: ${error.message}`);
  };
  const reader = readDataFile(options.data, { skipInvalid: options.skipInvalid, onInvalid });
  const examples = tokenized(reader, {
    tokenizer: options.tokenizer,
    chatTemplate: options.chatTemplate ?? undefined,
    templateVariables: options.templateVariables,
    maxLength,
    truncation,
    limit: options.limit,
    skipInvalid: options.skipInvalid ?? false,
    vocabSize: options.vocabSize,
    onTruncated: () => truncated++,
    onInvalid,
  });
  const summary = await captureDistributions({
    provider: options.provider,
    examples,
    out: options.out,
    k: options.k,
    identity,
    batchTokens: options.batchTokens,
    totalExamples: Number.isFinite(total) ? total : undefined,
    store: options.store,
    onProgress: options.onProgress,
    logger,
    signal: options.signal,
  });
  return { ...summary, invalid, truncated };
}

async function* tokenized(
  reader: AsyncIterable<DataExample>,
  options: {
    tokenizer: TokenizerLike;
    chatTemplate: string | undefined;
    templateVariables: Readonly<Record<string, unknown>> | undefined;
    maxLength: number | undefined;
    truncation: TruncationPolicy;
    limit: number | undefined;
    skipInvalid: boolean;
    vocabSize: number;
    onTruncated: () => void;
    onInvalid: (error: FuseChatError) => void;
  },
): AsyncGenerator<CaptureExample> {
  let count = 0;
  for await (const example of reader) {
    if (options.limit !== undefined && count >= options.limit) return;
    let result: ReturnType<typeof tokenizeExample>;
    try {
      result = tokenizeExample(example, {
        tokenizer: options.tokenizer,
        chatTemplate: options.chatTemplate,
        templateVariables: options.templateVariables,
        maxLength: options.maxLength,
        truncation: options.truncation,
      });
      if (result.inputIds.length === 0) throw emptyExample(example.where);
      const position = result.inputIds.findIndex((id) => id >= options.vocabSize);
      if (position >= 0)
        throw outsideVocabulary(example.where, position, result.inputIds[position]!, options.vocabSize);
    } catch (error) {
      // Not a bad line but a bad setup (no template, bad options): stops the capture even with skipInvalid.
      if (!options.skipInvalid || SETUP_ERRORS.has((error as FuseChatError).code)) throw error;
      options.onInvalid(error as FuseChatError);
      continue;
    }
    if (result.truncated) options.onTruncated();
    count++;
    yield { id: result.id, inputIds: result.inputIds, labelMask: result.labelMask };
  }
}

/** Errors of the setup, not of one line: `skipInvalid` never skips them. */
const SETUP_ERRORS = new Set([
  'CHAT_NO_TEMPLATE',
  'CHAT_INVALID_OPTION',
  'CHAT_TEMPLATE_NOT_FOUND',
  'CHAT_TEMPLATE_INVALID_JSON',
]);

function emptyExample(where: string): FuseChatError {
  return new InvalidInputError(`${where}: the example has no tokens.`, {
    code: 'CAPTURE_EMPTY_EXAMPLE',
    details: { where },
  });
}

function outsideVocabulary(where: string, position: number, id: number, vocabSize: number): FuseChatError {
  return new InvalidInputError(
    `${where}: token id ${id} at position ${position} is outside the model's vocabulary (vocab_size ${vocabSize}); was the data tokenised for another model?`,
    { code: 'CAPTURE_TOKEN_OUT_OF_RANGE', details: { where, position, id } },
  );
}

/**
 * Non-blank lines of a file (for the progress total), counted with `indexOf` over the bytes: a
 * line is blank unless a byte other than space, tab or CR appears in it, which for JSONL is
 * almost always its first byte, so this costs one scan per newline, not a JS loop per byte.
 */
export async function countDataLines(path: string): Promise<number> {
  let lines = 0;
  let blank = true;
  const isSpace = (byte: number) => byte === 0x20 || byte === 0x0d || byte === 0x09;
  try {
    for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
      let start = 0;
      while (start <= chunk.length) {
        const newline = chunk.indexOf(0x0a, start);
        const end = newline < 0 ? chunk.length : newline;
        for (let at = start; blank && at < end; at++) if (!isSpace(chunk[at]!)) blank = false;
        if (newline < 0) break;
        if (!blank) lines++;
        blank = true;
        start = newline + 1;
      }
    }
  } catch {
    return Number.POSITIVE_INFINITY; // readDataFile reports the real error
  }
  return blank ? lines : lines + 1;
}
