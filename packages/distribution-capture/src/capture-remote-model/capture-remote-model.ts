import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { hashFile, loadChatTemplate, type TruncationPolicy } from '@fusechat/chat-data';
import type { Logger, TokenizerLike } from '@fusechat/core';
import type { StoreIdentity } from '@fusechat/distribution-store';
import { loadTokenizer } from '@fusechat/tokenizer-alignment';
import type { CaptureStoreOptions } from '../capture-distributions.js';
import { type CaptureIdentityOptions, createCaptureIdentity } from '../capture-identity.js';
import type { CaptureProgressEvent } from '../capture-into-writer.js';
import { type CaptureDataFileSummary, captureDataFile } from '../capture-local-model/capture-data-file.js';
import { createRemoteProvider, type RemoteProvider } from '../remote-provider/create-remote-provider.js';
import type { RemoteDialectName } from '../remote-provider/remote-dialect.js';

/** Options of {@link captureRemoteModel}. */
export interface CaptureRemoteModelOptions {
  /** Base URL of the inference server, e.g. `http://gpu-1:8000`. */
  readonly endpoint: string;
  /** The served model's name (vLLM `--served-model-name`); recorded in the store. */
  readonly modelName: string;
  /**
   * The served model's tokenizer files (`tokenizer.json`, `tokenizer_config.json` with the chat
   * template; a `config.json` beside them, when there is one, gives the model's output size).
   */
  readonly tokenizerDir: string;
  readonly dialect: RemoteDialectName;
  /** Sent as a Bearer token; never logged. */
  readonly apiKey?: string | undefined;
  /** JSONL data: chat (`messages` / ShareGPT `conversations`), `text`, or pre-tokenised ids. */
  readonly data: string;
  /** Store directory (created; an incomplete store of the same identity is resumed). */
  readonly out: string;
  /** Entries kept per position (FuseChat: 10). */
  readonly k: number;
  /** Longest sequence kept, in tokens (default: the server's limit when it reports one, else none). */
  readonly maxLength?: number | undefined;
  readonly truncation?: TruncationPolicy | undefined;
  /** A `.jinja` file or a `tokenizer_config.json` whose template replaces the tokenizer's own. */
  readonly chatTemplateFile?: string | undefined;
  /** Extra chat-template variables, recorded in the store's identity. */
  readonly templateVariables?: Readonly<Record<string, string | number | boolean>> | undefined;
  readonly skipInvalid?: boolean | undefined;
  readonly limit?: number | undefined;
  /** Requests in flight at most (default 8). */
  readonly concurrency?: number | undefined;
  /** Retries per request (default 5). */
  readonly maxRetries?: number | undefined;
  /** Per attempt (default 120 000 ms). */
  readonly timeoutMs?: number | undefined;
  /** First retry delay (default 500 ms). */
  readonly retryBaseDelayMs?: number | undefined;
  /** Tokens per capture window (the requests of a window run concurrently; default 16384). */
  readonly batchTokens?: number | undefined;
  /** How the store is written (`nextTokenLogProbs` defaults to true). */
  readonly store?: CaptureStoreOptions | undefined;
  readonly onProgress?: ((event: RemoteCaptureProgressEvent) => void) | undefined;
  readonly logger?: Logger | undefined;
  readonly signal?: AbortSignal | undefined;
  /** The `fetch` to call (default: the global one). */
  readonly fetch?: typeof fetch | undefined;
}

/** A capture progress event with the server traffic of this run. */
export interface RemoteCaptureProgressEvent extends CaptureProgressEvent {
  /** HTTP requests sent so far (retries included). */
  readonly requests: number;
  /** Requests per second since the capture started. */
  readonly requestsPerSecond: number;
  readonly retries: number;
  readonly bytesSent: number;
  readonly bytesReceived: number;
}

/** What {@link captureRemoteModel} did: the local capture's summary plus the traffic. */
export interface CaptureRemoteModelSummary extends CaptureDataFileSummary {
  /** HTTP requests of this run (the probe's and retries included). */
  readonly requests: number;
  readonly retries: number;
  readonly bytesSent: number;
  readonly bytesReceived: number;
}

/**
 * The capture stage from an inference server, as `fusechat capture --endpoint URL` runs it: loads
 * the served model's tokenizer from `tokenizerDir`, checks the server (engine, model name,
 * tokenizer agreement: see `createRemoteProvider`), renders and tokenises every example locally
 * exactly as `captureLocalModel` does, sends the prompts as token ids and stores the top-k
 * log-probabilities in the same resumable store — a killed capture resumes where it stopped, a
 * complete store is left alone. The store's model identity is the provider's id (dialect, endpoint,
 * model name) and its `valueKind` is `logprobs`.
 *
 * @example
 * ```ts
 * const summary = await captureRemoteModel({ endpoint: 'http://gpu-1:8000', modelName: 'mistralai/Mixtral-8x7B-Instruct-v0.1',
 *   tokenizerDir: 'tokenizers/mixtral', dialect: 'vllm', data: 'train.jsonl', out: 'run/capture/mixtral', k: 10 });
 * console.log(summary.examples, summary.bytesReceived / summary.tokens);
 * ```
 */
export async function captureRemoteModel(
  options: CaptureRemoteModelOptions,
): Promise<CaptureRemoteModelSummary> {
  const started = performance.now();
  const tokenizer = await loadTokenizer(options.tokenizerDir);
  const chatTemplate =
    options.chatTemplateFile !== undefined
      ? await loadChatTemplate(options.chatTemplateFile)
      : (tokenizer.chatTemplate ?? null);
  const modelVocabSize = await readVocabSize(options.tokenizerDir);
  const provider: RemoteProvider = await createRemoteProvider({
    endpoint: options.endpoint,
    modelName: options.modelName,
    tokenizer,
    dialect: options.dialect,
    apiKey: options.apiKey,
    concurrency: options.concurrency,
    maxRetries: options.maxRetries,
    timeoutMs: options.timeoutMs,
    retryBaseDelayMs: options.retryBaseDelayMs,
    logger: options.logger,
    fetch: options.fetch,
  });
  const traffic = () => {
    const stats = provider.stats();
    return {
      requests: stats.requests,
      retries: stats.retries,
      bytesSent: stats.bytesSent,
      bytesReceived: stats.bytesReceived,
    };
  };
  const summary = await captureDataFile({
    provider,
    tokenizer,
    chatTemplate,
    vocabSize: Math.max(tokenizer.vocabSize, modelVocabSize ?? 0),
    data: options.data,
    out: options.out,
    k: options.k,
    maxLength: options.maxLength ?? provider.maxSequenceLength,
    truncation: options.truncation,
    templateVariables: options.templateVariables,
    skipInvalid: options.skipInvalid,
    limit: options.limit,
    identity: (capture) =>
      remoteCaptureIdentity({
        modelName: options.modelName,
        provider,
        tokenizer,
        tokenizerDir: options.tokenizerDir,
        data: options.data,
        chatTemplate,
        capture,
      }),
    batchTokens: options.batchTokens,
    store: { ...options.store, nextTokenLogProbs: options.store?.nextTokenLogProbs ?? true },
    onProgress:
      options.onProgress === undefined
        ? undefined
        : (event) => {
            const seconds = (performance.now() - started) / 1000;
            const now = traffic();
            options.onProgress?.({
              ...event,
              ...now,
              requestsPerSecond: seconds > 0 ? now.requests / seconds : 0,
            });
          },
    logger: options.logger,
    signal: options.signal,
  });
  return { ...summary, ...traffic() };
}

/**
 * The store identity of a capture from a server, as {@link captureRemoteModel} builds it: the
 * served model's name with the provider's id (dialect, endpoint, model name) as its config hash,
 * the tokenizer (its size raised to `config.json`'s `vocab_size` beside the tokenizer files, when
 * there is one), the data file's hash, the chat template and the capture options, with
 * `valueKind: 'logprobs'`. Whoever captures a sample of the same data for the same source (the
 * planner's calibration) gets the identity the real store will have.
 */
export async function remoteCaptureIdentity(parts: {
  readonly modelName: string;
  readonly provider: Pick<RemoteProvider, 'id'>;
  readonly tokenizer: TokenizerLike;
  readonly tokenizerDir: string;
  readonly data: string;
  readonly chatTemplate: string | null;
  readonly capture: CaptureIdentityOptions;
}): Promise<StoreIdentity> {
  return createCaptureIdentity({
    model: { name: parts.modelName, configHash: parts.provider.id },
    tokenizer: parts.tokenizer,
    modelVocabSize: await readVocabSize(parts.tokenizerDir),
    dataHash: await hashFile(parts.data),
    chatTemplate: parts.chatTemplate,
    capture: { ...parts.capture, valueKind: 'logprobs' },
  });
}

/** `vocab_size` of a `config.json` beside the tokenizer files, when there is one. */
async function readVocabSize(dir: string): Promise<number | undefined> {
  try {
    const config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as { vocab_size?: unknown };
    return Number.isSafeInteger(config.vocab_size) ? (config.vocab_size as number) : undefined;
  } catch {
    return undefined;
  }
}
