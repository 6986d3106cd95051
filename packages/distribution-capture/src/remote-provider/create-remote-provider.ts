import { InvalidInputError, type Logger, silentLogger, type TokenizerLike } from '@fusechat/core';
import type { LogitsProvider, ProviderOutput } from '../logits-provider.js';
import { detectUnsupportedEngine, unsupportedEngineError } from './detect-unsupported-engine.js';
import { PROBE_TEXTS, type RemoteDialect, type RemoteDialectName } from './remote-dialect.js';
import { createRemoteHttpClient, type RemoteHttpStats } from './remote-http-client.js';
import { sglangDialect } from './sglang-dialect.js';
import { vllmDialect } from './vllm-dialect.js';

/** Options of {@link createRemoteProvider}. */
export interface RemoteProviderOptions {
  /** Base URL of the server, e.g. `http://gpu-1:8000` (a trailing `/v1` is accepted and dropped). */
  readonly endpoint: string;
  /** The served model's name (vLLM `--served-model-name`, or the model path it was started with). */
  readonly modelName: string;
  /** The served model's tokenizer (`--tokenizer DIR`): capture renders and tokenises locally. */
  readonly tokenizer: TokenizerLike;
  readonly dialect: RemoteDialectName;
  /** Sent as a Bearer token; never logged or put in an error message. */
  readonly apiKey?: string | undefined;
  /** Requests in flight at most (default 8). */
  readonly concurrency?: number | undefined;
  /** Retries per request on 429/5xx, timeouts and dropped connections (default 5). */
  readonly maxRetries?: number | undefined;
  /** Per attempt (default 120 000 ms). */
  readonly timeoutMs?: number | undefined;
  /** First retry delay, doubled per retry with jitter (default 500 ms). */
  readonly retryBaseDelayMs?: number | undefined;
  /** Texts of the tokenizer-agreement probe (default: a fixed set with spaces, digits, accents, CJK, emoji). */
  readonly probeTexts?: readonly string[] | undefined;
  readonly logger?: Logger | undefined;
  /** The `fetch` to call (default: the global one). */
  readonly fetch?: typeof fetch | undefined;
}

/** Counters of a remote provider: its HTTP traffic and what it scored. */
export interface RemoteProviderStats extends RemoteHttpStats {
  /** Sequences scored. */
  readonly sequences: number;
  /** Tokens of the sequences scored. */
  readonly tokens: number;
}

/** A {@link LogitsProvider} over an inference server; values are log-probabilities. */
export interface RemoteProvider extends LogitsProvider {
  readonly valueKind: 'logprobs';
  readonly dialect: RemoteDialectName;
  /** The normalised endpoint (no trailing `/` or `/v1`). */
  readonly endpoint: string;
  /** A snapshot of the counters (requests/s for progress, bytes per token for the bench). */
  stats(): RemoteProviderStats;
}

const DIALECTS: Record<RemoteDialectName, RemoteDialect> = { vllm: vllmDialect, sglang: sglangDialect };

/**
 * A provider that asks an inference server for teacher distributions, one request per sequence
 * with at most `concurrency` in flight: vLLM's `/v1/completions` with `prompt_logprobs` or
 * SGLang's `/generate` with `input_top_logprobs` (see `vllmDialect`, `sglangDialect`). Prompts go out
 * as token ids, so the server scores exactly the tokens capture stores.
 *
 * Before it resolves it checks the server: an engine that cannot return prompt top-k (TGI,
 * llama.cpp) is refused with a diagnosis; for vLLM the model must be listed by `/v1/models`; and the
 * server's own tokenizer must agree with `tokenizer` on a few known texts (vLLM `/tokenize`, SGLang a
 * `text` prompt), because servers echo id prompts unchanged and cannot tell a wrong tokenizer.
 *
 * Values are log-probabilities (`valueKind: 'logprobs'`): after softmax over the kept entries the
 * same teacher distribution as a local model's logits. A sequence with NaN or infinite values is
 * reported `nonFinite` (capture flags it); fewer than k entries is an error, never padding.
 *
 * @throws InvalidInputError `REMOTE_INVALID_OPTIONS`; RemoteProviderError `REMOTE_ENGINE_UNSUPPORTED`,
 *   `REMOTE_MODEL_NOT_SERVED`, `REMOTE_TOKENIZER_MISMATCH`, `REMOTE_UNAUTHORIZED`,
 *   `REMOTE_ROUTE_NOT_FOUND`, `REMOTE_REQUEST_FAILED`, `REMOTE_BAD_RESPONSE`; from `topK` also
 *   `REMOTE_MAX_LOGPROBS`, `REMOTE_NO_PROMPT_LOGPROBS`, `REMOTE_TOO_FEW_LOGPROBS`, `REMOTE_PROMPT_MISMATCH`.
 *
 * @example
 * ```ts
 * const tokenizer = await loadTokenizer('models/qwen2.5-7b-instruct');
 * const provider = await createRemoteProvider({ endpoint: 'http://gpu-1:8000', modelName: 'Qwen/Qwen2.5-7B-Instruct',
 *   tokenizer, dialect: 'vllm', apiKey: process.env.VLLM_API_KEY });
 * const [output] = await provider.topK([Int32Array.from(tokenizer.encode('Hello'))], { k: 10 });
 * provider.stats().bytesReceived;
 * ```
 */
export async function createRemoteProvider(options: RemoteProviderOptions): Promise<RemoteProvider> {
  const dialect = DIALECTS[options.dialect];
  if (dialect === undefined) {
    throw invalid(`dialect must be vllm or sglang, got ${JSON.stringify(options.dialect)}`, 'dialect');
  }
  const endpoint = normaliseEndpoint(options.endpoint);
  if (typeof options.modelName !== 'string' || options.modelName.trim() === '') {
    throw invalid('modelName must be the served model name', 'modelName');
  }
  const positive = (value: number | undefined, field: string, minimum = 1) => {
    if (value !== undefined && !(Number.isInteger(value) && value >= minimum)) {
      throw invalid(`${field} must be an integer ≥ ${minimum}, got ${value}`, field);
    }
  };
  positive(options.concurrency, 'concurrency');
  positive(options.maxRetries, 'maxRetries', 0);
  positive(options.timeoutMs, 'timeoutMs');
  const logger = options.logger ?? silentLogger;
  const client = createRemoteHttpClient({
    endpoint,
    apiKey: options.apiKey,
    concurrency: options.concurrency,
    maxRetries: options.maxRetries,
    timeoutMs: options.timeoutMs,
    retryBaseDelayMs: options.retryBaseDelayMs,
    logger,
    fetch: options.fetch,
  });
  const context = { client, modelName: options.modelName, tokenizer: options.tokenizer };
  const engine = await detectUnsupportedEngine(client, Math.min(options.timeoutMs ?? 10_000, 10_000));
  if (engine !== undefined) throw unsupportedEngineError(endpoint, engine);
  const facts = await dialect.probe(context, options.probeTexts ?? PROBE_TEXTS);
  logger.debug(`${dialect.name} server at ${endpoint} serves ${options.modelName}; tokenizers agree`);
  let sequences = 0;
  let tokens = 0;
  return {
    id: `${dialect.name}:${endpoint}:${options.modelName}`,
    name: options.modelName,
    tokenizer: options.tokenizer,
    valueKind: 'logprobs',
    dialect: dialect.name,
    endpoint,
    maxSequenceLength: facts.maxSequenceLength,
    stats: () => ({ ...client.stats, sequences, tokens }),
    async topK(batch, { k }): Promise<ProviderOutput[]> {
      if (!(Number.isInteger(k) && k >= 1)) {
        throw new InvalidInputError(`k must be a positive integer, got ${k}`, {
          code: 'CAPTURE_INVALID_INPUT',
          field: 'k',
        });
      }
      for (const [index, sequence] of batch.entries()) {
        if (sequence.length === 0) {
          throw new InvalidInputError(`sequence ${index} is empty`, {
            code: 'CAPTURE_INVALID_INPUT',
            field: `sequences[${index}]`,
          });
        }
      }
      // The first failure cancels the requests still in flight or waiting to retry.
      const controller = new AbortController();
      try {
        return await Promise.all(
          batch.map(async (sequence) => {
            try {
              const output = await dialect.score(context, sequence, k, controller.signal);
              sequences++;
              tokens += sequence.length;
              return output;
            } catch (error) {
              controller.abort(error);
              throw error;
            }
          }),
        );
      } finally {
        controller.abort();
      }
    },
  };
}

function normaliseEndpoint(endpoint: string): string {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw invalid(
      `endpoint must be an http(s) URL such as http://127.0.0.1:8000, got ${JSON.stringify(endpoint)}`,
      'endpoint',
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw invalid(`endpoint must be an http(s) URL, got ${JSON.stringify(endpoint)}`, 'endpoint');
  }
  if (url.username || url.password) {
    throw invalid('endpoint must not carry credentials: pass the API key with --api-key-env', 'endpoint');
  }
  return `${url.origin}${url.pathname.replace(/\/+$/, '').replace(/\/v1$/, '')}`;
}

function invalid(message: string, field: string): InvalidInputError {
  return new InvalidInputError(message, { code: 'REMOTE_INVALID_OPTIONS', field });
}
