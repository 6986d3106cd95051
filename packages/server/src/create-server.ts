import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import { templateEndOfTurn } from '@fusechat/chat-data';
import {
  type FuseChatError,
  InvalidInputError,
  isFuseChatError,
  type Logger,
  silentLogger,
  type TokenizerLike,
} from '@fusechat/core';
import type { CausalLM } from '@fusechat/model';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import { registerChatRoute } from './chat/chat-route.js';
import { registerCompletionRoute } from './completions/completion-route.js';
import { errorBody, ServerRequestError } from './http/server-error.js';
import { createScoringQueue } from './scoring/create-scoring-queue.js';
import type { ResolvedServerLimits, ServerContext } from './server-context.js';
import { registerTokenizeRoutes } from './tokenize/tokenize-routes.js';

/** What a server refuses before doing any work. */
export interface ServerLimits {
  /** Prompt + generated tokens per sequence (vLLM's `--max-model-len`); default and maximum: the model's `max_position_embeddings`. */
  readonly maxModelLen?: number | undefined;
  /** Prompt tokens in one request, summed over a batch of prompts (default 32768). */
  readonly maxBatchTokens?: number | undefined;
  /** Request body bytes (default 16 MiB); checked against `Content-Length` before the body is read. */
  readonly maxBodyBytes?: number | undefined;
  /** Log-probabilities per position at most (vLLM's `--max-logprobs`, default 20; −1 = the vocabulary). */
  readonly maxLogprobs?: number | undefined;
}

/** Options of {@link createServer}. */
export interface CreateServerOptions {
  /** The model to serve (stays owned by the caller: dispose it after closing the server). */
  readonly model: CausalLM;
  readonly tokenizer: TokenizerLike;
  /** Name in `/v1/models` and responses; requests naming another model get 404. */
  readonly modelName: string;
  /** Jinja chat template overriding the tokenizer's. */
  readonly chatTemplate?: string | undefined;
  /** When set, `/v1/*` requests need `Authorization: Bearer <apiKey>` (as vLLM's `--api-key`). Never logged. */
  readonly apiKey?: string | undefined;
  readonly limits?: ServerLimits | undefined;
  /** One line per request at `debug`, errors at `error`; bodies and the API key are never logged. */
  readonly logger?: Logger | undefined;
  /** Window (ms) in which concurrent prompt-scoring requests join one forward pass (default 2). */
  readonly batchWindowMs?: number | undefined;
  /** Bytes of one chunk of logits in scoring passes (the local provider's `logitsBudgetBytes`). */
  readonly logitsBudgetBytes?: number | undefined;
  /**
   * More ids every generation stops at, beside `config.json`'s and the tokenizer's eos — e.g.
   * `generation_config.json`'s `eos_token_id` (`readGenerationConfigEos`), which {@link serve}
   * reads from the model's directory as vLLM does.
   */
  readonly stopTokenIds?: readonly number[] | undefined;
}

const DEFAULT_MAX_BATCH_TOKENS = 32768;
const DEFAULT_MAX_BODY_BYTES = 16 * 1024 ** 2;
const DEFAULT_MAX_LOGPROBS = 20;

/**
 * An OpenAI-compatible HTTP server in vLLM's flavour over a local model, on fastify:
 * `GET /v1/models`, `POST /v1/completions` (prompt log-probabilities, echo, streaming),
 * `POST /v1/chat/completions`, `POST /tokenize`, `POST /detokenize`, `GET /health`.
 * Errors are OpenAI's error body with status 400 / 401 / 404 (never a stack trace); a request
 * over a limit is refused with 400 before the model runs. Prompt-scoring passes of concurrent
 * requests are batched. Not listening yet: call `listen` (or use {@link serve}).
 *
 * @throws InvalidInputError `SERVE_INVALID_OPTIONS` for a bad limit or an empty model name.
 * @example
 * ```ts
 * const app = createServer({ model, tokenizer, modelName: 'tiny' });
 * await app.listen({ host: '127.0.0.1', port: 0 });
 * const response = await fetch(`http://127.0.0.1:${app.server.address().port}/v1/completions`, {
 *   method: 'POST', headers: { 'content-type': 'application/json' },
 *   body: JSON.stringify({ prompt: [1, 306, 4658], max_tokens: 1, prompt_logprobs: 5 }),
 * });
 * ```
 */
export function createServer(options: CreateServerOptions): FastifyInstance {
  const { model, tokenizer } = options;
  const logger = options.logger ?? silentLogger;
  if (options.modelName.trim() === '') {
    throw new InvalidInputError('modelName must not be empty.', {
      code: 'SERVE_INVALID_OPTIONS',
      field: 'modelName',
    });
  }
  const limits = resolveLimits(options.limits ?? {}, model.config.maxPositionEmbeddings);
  const eos = model.config.eosTokenId;
  const eosTokenIds = new Set<number>([
    ...(eos === null ? [] : typeof eos === 'number' ? [eos] : eos),
    ...(tokenizer.specialTokens.eos === undefined ? [] : [tokenizer.specialTokens.eos]),
    ...(options.stopTokenIds ?? []),
  ]);
  // Chat replies also end at the template's end-of-turn token (`<|im_end|>`, `<|eot_id|>`…).
  const chatEosTokenIds = new Set(eosTokenIds);
  try {
    const endOfTurn = templateEndOfTurn([{ role: 'user', content: 'Hi' }], {
      tokenizer,
      chatTemplate: options.chatTemplate,
    });
    if (endOfTurn !== undefined) chatEosTokenIds.add(endOfTurn);
  } catch (error) {
    // No usable template: chat requests are refused with the rendering's error anyway.
    if (!isFuseChatError(error)) throw error;
  }
  const decoded = new Map<number, string>();
  const context: ServerContext = {
    model,
    tokenizer,
    modelName: options.modelName,
    chatTemplate: options.chatTemplate,
    limits,
    logger,
    scoring: createScoringQueue(model, tokenizer, {
      windowMs: options.batchWindowMs,
      maxBatchTokens: limits.maxBatchTokens,
      logitsBudgetBytes: options.logitsBudgetBytes,
    }),
    eosTokenIds,
    chatEosTokenIds,
    decodeToken(id) {
      let text = decoded.get(id);
      if (text === undefined) {
        text = tokenizer.decode([id]);
        if (decoded.size < 1 << 20) decoded.set(id, text);
      }
      return text;
    },
    startedAt: Math.floor(Date.now() / 1000),
  };

  const app = Fastify({
    logger: false,
    bodyLimit: limits.maxBodyBytes,
    // No coercion: a token-id prompt [5] must not turn into the text "5".
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
  });

  const keyHash = options.apiKey === undefined ? undefined : sha256(options.apiKey);
  app.addHook('onRequest', async (request, reply) => {
    logger.debug(`${request.method} ${request.url}`);
    // vLLM guards /v1 only (vllm/entrypoints/serve/middleware/authenticate.py, commit baaf6e9c): /health and /tokenize stay open.
    if (keyHash === undefined || request.method === 'OPTIONS' || !request.url.startsWith('/v1')) return;
    const header = request.headers.authorization ?? '';
    const [scheme, ...rest] = header.split(' ');
    const given = rest.join(' ');
    if (scheme?.toLowerCase() !== 'bearer' || !timingSafeEqual(sha256(given), keyHash)) {
      return reply
        .code(401)
        .send(errorBody(401, 'Unauthorized: a valid API key is required (Authorization: Bearer <key>).'));
    }
  });

  app.setErrorHandler((error: FastifyError | FuseChatError | Error, _request, reply) => {
    const { statusCode, message, param } = describeError(error, limits);
    if (statusCode >= 500) logger.error(`request failed: ${error.message}`);
    return reply.code(statusCode).send(errorBody(statusCode, message, param));
  });
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send(errorBody(404, `Not Found: ${request.method} ${request.url.split('?')[0]}`)),
  );

  app.get('/health', async (_request, reply) => reply.code(200).send(''));
  app.get('/v1/models', async () => ({
    object: 'list',
    data: [
      {
        id: context.modelName,
        object: 'model',
        created: context.startedAt,
        owned_by: 'fusechat',
        root: model.sourceDirectory ?? context.modelName,
        parent: null,
        max_model_len: limits.maxModelLen,
        permission: [
          {
            id: `modelperm-${randomUUID().replaceAll('-', '')}`,
            object: 'model_permission',
            created: context.startedAt,
            allow_create_engine: false,
            allow_sampling: true,
            allow_logprobs: true,
            allow_search_indices: false,
            allow_view: true,
            allow_fine_tuning: false,
            organization: '*',
            group: null,
            is_blocking: false,
          },
        ],
      },
    ],
  }));
  registerCompletionRoute(app, context);
  registerChatRoute(app, context);
  registerTokenizeRoutes(app, context);
  return app;
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

function describeError(
  error: FastifyError | FuseChatError | Error,
  limits: ResolvedServerLimits,
): { statusCode: number; message: string; param: string | null } {
  if (error instanceof ServerRequestError)
    return { statusCode: error.statusCode, message: error.message, param: error.param };
  const fastifyError = error as FastifyError;
  if (fastifyError.validation !== undefined) {
    const first = fastifyError.validation[0];
    const field = first?.instancePath?.replace(/^\//, '').replaceAll('/', '.') || null;
    return { statusCode: 400, message: `Invalid request: ${error.message}.`, param: field };
  }
  if (fastifyError.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return {
      statusCode: 400,
      message: `The request body is larger than this server accepts (${limits.maxBodyBytes} bytes, --max-body-bytes).`,
      param: null,
    };
  }
  if (typeof fastifyError.code === 'string' && fastifyError.code.startsWith('FST_ERR_CTP')) {
    return { statusCode: 400, message: `Invalid request body: ${error.message}`, param: null };
  }
  if (error instanceof SyntaxError)
    return { statusCode: 400, message: `Invalid JSON: ${error.message}`, param: null };
  if (error instanceof InvalidInputError)
    return { statusCode: 400, message: error.message, param: error.field ?? null };
  if (
    typeof fastifyError.statusCode === 'number' &&
    fastifyError.statusCode >= 400 &&
    fastifyError.statusCode < 500
  ) {
    return { statusCode: 400, message: error.message, param: null };
  }
  return { statusCode: 500, message: 'Internal server error; see the server log.', param: null };
}

function resolveLimits(limits: ServerLimits, maxPositions: number): ResolvedServerLimits {
  const positive = (
    value: number | undefined,
    fallback: number,
    field: string,
    allowMinusOne = false,
  ): number => {
    const resolved = value ?? fallback;
    if (!Number.isInteger(resolved) || (resolved < 1 && !(allowMinusOne && resolved === -1))) {
      throw new InvalidInputError(
        `limits.${field} must be a positive integer${allowMinusOne ? ' or -1' : ''}, got ${resolved}.`,
        {
          code: 'SERVE_INVALID_OPTIONS',
          field: `limits.${field}`,
        },
      );
    }
    return resolved;
  };
  const maxModelLen = positive(limits.maxModelLen, maxPositions, 'maxModelLen');
  if (maxModelLen > maxPositions) {
    throw new InvalidInputError(
      `limits.maxModelLen ${maxModelLen} exceeds the model's max_position_embeddings (${maxPositions}).`,
      { code: 'SERVE_INVALID_OPTIONS', field: 'limits.maxModelLen' },
    );
  }
  return {
    maxModelLen,
    maxBatchTokens: positive(limits.maxBatchTokens, DEFAULT_MAX_BATCH_TOKENS, 'maxBatchTokens'),
    maxBodyBytes: positive(limits.maxBodyBytes, DEFAULT_MAX_BODY_BYTES, 'maxBodyBytes'),
    maxLogprobs: positive(limits.maxLogprobs, DEFAULT_MAX_LOGPROBS, 'maxLogprobs', true),
  };
}
