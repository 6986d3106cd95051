import { loadChatTemplate, type TruncationPolicy } from '@fusechat/chat-data';
import type { Logger, TokenizerLike } from '@fusechat/core';
import { type CausalLM, loadModel, readModelConfig } from '@fusechat/model';
import { loadTokenizer } from '@fusechat/tokenizer-alignment';
import { createLocalCaptureIdentity } from '../capture-identity.js';
import type { CaptureProgressEvent } from '../capture-into-writer.js';
import { createLocalProvider } from '../local-provider/create-local-provider.js';
import { type CaptureDataFileSummary, captureDataFile } from './capture-data-file.js';

export { countDataLines } from './capture-data-file.js';

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
export interface CaptureLocalModelSummary extends CaptureDataFileSummary {}

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
  const { config } = await readModelConfig(options.modelDir);
  const tokenizer = await loadTokenizer(options.modelDir);
  const chatTemplate =
    options.chatTemplateFile !== undefined
      ? await loadChatTemplate(options.chatTemplateFile)
      : (tokenizer.chatTemplate ?? null);
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
    return await captureDataFile({
      provider,
      tokenizer,
      chatTemplate,
      vocabSize: config.vocabSize,
      data: options.data,
      out: options.out,
      k: options.k,
      maxLength: options.maxLength ?? config.maxPositionEmbeddings,
      truncation: options.truncation,
      templateVariables: options.templateVariables,
      skipInvalid: options.skipInvalid,
      limit: options.limit,
      identity: (capture) =>
        createLocalCaptureIdentity({
          modelDir: options.modelDir,
          tokenizer,
          dataFile: options.data,
          chatTemplate,
          capture,
        }),
      store: { nextTokenLogProbs: options.nextTokenLogProbs ?? true },
      onProgress: options.onProgress,
      logger: options.logger,
      signal: options.signal,
    });
  } finally {
    if (ownModel) model?.dispose();
  }
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
