import { createReadStream } from 'node:fs';
import {
  type DataExample,
  loadChatTemplate,
  readDataFile,
  type TruncationPolicy,
  tokenizeExample,
} from '@fusechat/chat-data';
import {
  type FuseChatError,
  InvalidInputError,
  type Logger,
  silentLogger,
  type TokenizerLike,
} from '@fusechat/core';
import type { StoreManifest } from '@fusechat/distribution-store';
import { type CausalLM, loadModel, readModelConfig } from '@fusechat/model';
import { loadTokenizer } from '@fusechat/tokenizer-alignment';
import { type CaptureSummary, captureDistributions } from '../capture-distributions.js';
import { createLocalCaptureIdentity } from '../capture-identity.js';
import type { CaptureExample, CaptureProgressEvent } from '../capture-into-writer.js';
import { createLocalProvider } from '../local-provider/create-local-provider.js';

/** Options of {@link captureLocalModel}. */
export interface CaptureLocalModelOptions {
  /** Hugging Face model directory (config.json, *.safetensors, tokenizer files). */
  readonly modelDir: string;
  /** JSONL data: chat (`messages` / ShareGPT `conversations`), `text`, or pre-tokenised ids. */
  readonly data: string;
  /** Store directory (created; an incomplete store of the same identity is resumed). */
  readonly out: string;
  /** Entries kept per position (FuseChat: 10). */
  readonly k: number;
  /** Longest sequence kept, in tokens (default: the model's `max_position_embeddings`). */
  readonly maxLength?: number | undefined;
  readonly truncation?: TruncationPolicy | undefined;
  /** A `.jinja` file or a `tokenizer_config.json` whose template replaces the model's own. */
  readonly chatTemplateFile?: string | undefined;
  /**
   * Extra chat-template variables (`date_string`, `enable_thinking`…), recorded in the store's
   * identity. Pin a date here for templates that print today's (Llama 3.1), or stores differ by day.
   */
  readonly templateVariables?: Readonly<Record<string, string | number | boolean>> | undefined;
  /** Skip (and count) invalid data lines instead of stopping at the first. */
  readonly skipInvalid?: boolean | undefined;
  /** Capture only the first `limit` examples of the data. */
  readonly limit?: number | undefined;
  /** Padded tokens per forward pass (the local provider's budget). */
  readonly batchTokens?: number | undefined;
  /** Store per-position next-token log-probabilities (default true). */
  readonly nextTokenLogProbs?: boolean | undefined;
  /** A model already loaded from `modelDir` (else it is loaded, and disposed at the end). */
  readonly model?: CausalLM | undefined;
  readonly onProgress?: ((event: CaptureProgressEvent) => void) | undefined;
  readonly logger?: Logger | undefined;
  readonly signal?: AbortSignal | undefined;
}

/** What {@link captureLocalModel} did. */
export interface CaptureLocalModelSummary extends CaptureSummary {
  /** Data lines skipped as invalid (`skipInvalid`). */
  readonly invalid: number;
  /** Examples cut to `maxLength`. */
  readonly truncated: number;
  readonly manifest: StoreManifest;
}

/**
 * The capture stage from a model directory, as `fusechat capture --model DIR` runs it: reads the
 * model's config, tokenizer and chat template (or `chatTemplateFile`), hashes the data, renders and
 * tokenises every example in data order (assistant-only labels), and captures the model's top-k
 * distributions into a store — resuming an interrupted capture, and doing nothing (but saying so)
 * when the store is already complete. The identity check happens before the model is loaded.
 *
 * @example
 * ```ts
 * await initBackend('auto');
 * const summary = await captureLocalModel({ modelDir: 'models/pivot', data: 'train.jsonl', out: 'run/capture/pivot', k: 10 });
 * summary.manifest.examples; // records in the store
 * ```
 */
export async function captureLocalModel(
  options: CaptureLocalModelOptions,
): Promise<CaptureLocalModelSummary> {
  const logger = options.logger ?? silentLogger;
  const { config } = await readModelConfig(options.modelDir);
  const tokenizer = await loadTokenizer(options.modelDir);
  const chatTemplate =
    options.chatTemplateFile !== undefined
      ? await loadChatTemplate(options.chatTemplateFile)
      : (tokenizer.chatTemplate ?? null);
  const maxLength = options.maxLength ?? config.maxPositionEmbeddings;
  const truncation = options.truncation ?? 'keep-first';
  const identity = await createLocalCaptureIdentity({
    modelDir: options.modelDir,
    tokenizer,
    dataFile: options.data,
    chatTemplate,
    capture: {
      k: options.k,
      maxLength,
      truncation,
      // Both change which examples the store holds.
      skipInvalid: options.skipInvalid ?? false,
      limit: options.limit ?? null,
      templateVariables:
        options.templateVariables === undefined || Object.keys(options.templateVariables).length === 0
          ? null
          : JSON.stringify(Object.fromEntries(Object.entries(options.templateVariables).sort())),
    },
  });
  const total = Math.min(await countDataLines(options.data), options.limit ?? Number.POSITIVE_INFINITY);
  let invalid = 0;
  let truncated = 0;
  const reader = readDataFile(options.data, {
    skipInvalid: options.skipInvalid,
    onInvalid: (error: FuseChatError) => {
      invalid++;
      logger.warn(`skipped: ${error.message}`);
    },
  });
  const examples = tokenized(reader, {
    tokenizer,
    chatTemplate: chatTemplate ?? undefined,
    templateVariables: options.templateVariables,
    maxLength,
    truncation,
    limit: options.limit,
    skipInvalid: options.skipInvalid ?? false,
    vocabSize: config.vocabSize,
    onTruncated: () => truncated++,
    onInvalid: (error) => {
      invalid++;
      logger.warn(`skipped: ${error.message}`);
    },
  });
  const ownModel = options.model === undefined;
  let model: CausalLM | undefined = options.model;
  // Loading the model waits for the first batch: a complete store or a mismatch costs no load.
  const provider = createLazyLocalProvider(
    async () => {
      model ??= await loadModel(options.modelDir);
      return model;
    },
    tokenizer,
    options.batchTokens,
  );
  try {
    const summary = await captureDistributions({
      provider,
      examples,
      out: options.out,
      k: options.k,
      identity,
      totalExamples: Number.isFinite(total) ? total : undefined,
      store: { nextTokenLogProbs: options.nextTokenLogProbs ?? true },
      onProgress: options.onProgress,
      logger,
      signal: options.signal,
    });
    return { ...summary, invalid, truncated };
  } finally {
    if (ownModel) model?.dispose();
  }
}

async function* tokenized(
  reader: AsyncIterable<DataExample>,
  options: {
    tokenizer: TokenizerLike;
    chatTemplate: string | undefined;
    templateVariables: Readonly<Record<string, unknown>> | undefined;
    maxLength: number;
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

/** A local provider whose model is loaded on the first call. */
function createLazyLocalProvider(
  load: () => Promise<CausalLM>,
  tokenizer: TokenizerLike,
  batchTokens: number | undefined,
): ReturnType<typeof createLocalProvider> {
  let inner: ReturnType<typeof createLocalProvider> | undefined;
  return {
    id: 'local',
    name: 'local',
    tokenizer,
    valueKind: 'logits',
    async topK(sequences, options) {
      inner ??= createLocalProvider(await load(), tokenizer, { batchTokens });
      return inner.topK(sequences, options);
    },
    dispose: () => inner?.dispose?.(),
  };
}
