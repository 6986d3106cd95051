import { ServerRequestError } from '../http/server-error.js';
import type { ServerContext } from '../server-context.js';
import type { GenerationParams } from './run-generation.js';

/** Fields shared by completion and chat requests (vLLM's sampling parameters this server implements). */
export interface SamplingFields {
  model?: string | null;
  max_tokens?: number | null;
  temperature?: number | null;
  top_p?: number | null;
  top_k?: number | null;
  repetition_penalty?: number | null;
  seed?: number | null;
  stop?: string | string[] | null;
  stop_token_ids?: number[] | null;
  ignore_eos?: boolean;
  include_stop_str_in_output?: boolean;
  skip_special_tokens?: boolean;
  n?: number;
  stream?: boolean | null;
  stream_options?: { include_usage?: boolean | null; continuous_usage_stats?: boolean | null } | null;
  prompt_logprobs?: number | null;
  return_token_ids?: boolean | null;
  use_beam_search?: boolean;
}

/** 404 unless `model` is absent or the served name (vLLM's `_check_model`). */
export function checkModel(context: ServerContext, model: string | null | undefined): void {
  if (model !== undefined && model !== null && model !== context.modelName) {
    throw new ServerRequestError('SERVE_MODEL_NOT_FOUND', `The model \`${model}\` does not exist.`, {
      statusCode: 404,
      param: 'model',
    });
  }
}

/** vLLM's `check_logprobs` validator: a count is ≥ 0 or −1 (−1 = the whole vocabulary). */
export function checkLogprobCount(value: number | null | undefined, field: string): void {
  if (value !== undefined && value !== null && value < 0 && value !== -1) {
    throw new ServerRequestError('SERVE_BAD_REQUEST', `\`${field}\` must be a positive value or -1.`, {
      param: field,
    });
  }
}

/**
 * The number of entries a logprob count asks for, capped as vLLM's processor caps it at
 * `--max-logprobs` with the same message ("Requested prompt logprobs of 21, which is greater
 * than max allowed: 20"); −1 means the whole vocabulary.
 */
export function cappedLogprobs(
  context: ServerContext,
  value: number,
  kind: 'prompt' | 'sample',
  param: string,
): number {
  const vocab = context.model.config.vocabSize;
  const requested = value === -1 ? vocab : value;
  const max = context.limits.maxLogprobs === -1 ? vocab : context.limits.maxLogprobs;
  if (requested > max) {
    throw new ServerRequestError(
      'SERVE_BAD_REQUEST',
      `Requested ${kind} logprobs of ${requested}, which is greater than max allowed: ${max}`,
      { param, details: { requested, max } },
    );
  }
  return Math.min(requested, vocab);
}

/** The sampling parameters of a request, validated with vLLM's messages (`SamplingParams._verify_args`). */
export function resolveSampling(
  context: ServerContext,
  request: SamplingFields,
  maxTokens: number,
): GenerationParams {
  if ((request.n ?? 1) !== 1) {
    throw new ServerRequestError(
      'SERVE_BAD_REQUEST',
      `n must be 1 (fusechat serve returns one choice per prompt), got ${request.n}.`,
      {
        param: 'n',
      },
    );
  }
  if (request.use_beam_search === true) {
    throw new ServerRequestError('SERVE_BAD_REQUEST', 'Beam search is not supported by fusechat serve.', {
      param: 'use_beam_search',
    });
  }
  // vLLM's completion default temperature is 1.0 (`_DEFAULT_SAMPLING_PARAMS`).
  const temperature = request.temperature ?? 1;
  if (!(temperature >= 0)) {
    throw new ServerRequestError(
      'SERVE_BAD_REQUEST',
      `temperature must be non-negative, got ${temperature}.`,
      {
        param: 'temperature',
      },
    );
  }
  const topP = request.top_p ?? 1;
  if (!(topP > 0 && topP <= 1)) {
    throw new ServerRequestError('SERVE_BAD_REQUEST', `top_p must be in (0, 1], got ${topP}.`, {
      param: 'top_p',
    });
  }
  const topK = request.top_k ?? 0;
  if (topK < -1 || !Number.isInteger(topK)) {
    throw new ServerRequestError(
      'SERVE_BAD_REQUEST',
      `top_k must be 0 (disable), or at least 1, got ${topK}.`,
      {
        param: 'top_k',
      },
    );
  }
  const repetitionPenalty = request.repetition_penalty ?? 1;
  if (!(repetitionPenalty > 0 && Number.isFinite(repetitionPenalty))) {
    throw new ServerRequestError(
      'SERVE_BAD_REQUEST',
      `repetition_penalty must be greater than zero, got ${repetitionPenalty}.`,
      { param: 'repetition_penalty' },
    );
  }
  const stop = request.stop === undefined || request.stop === null ? [] : [request.stop].flat();
  if (stop.some((entry) => entry === '')) {
    throw new ServerRequestError('SERVE_BAD_REQUEST', 'stop cannot contain an empty string.', {
      param: 'stop',
    });
  }
  const vocab = context.model.config.vocabSize;
  const stopTokenIds = request.stop_token_ids ?? [];
  for (const id of stopTokenIds) checkTokenId(id, vocab, 'stop_token_ids');
  return {
    maxTokens,
    temperature,
    topP,
    topK: topK === -1 ? 0 : topK,
    repetitionPenalty,
    seed: request.seed ?? undefined,
    stop,
    stopTokenIds,
    ignoreEos: request.ignore_eos ?? false,
    includeStopStrInOutput: request.include_stop_str_in_output ?? false,
    skipSpecialTokens: request.skip_special_tokens ?? true,
  };
}

/** 400 for a token id outside the model's vocabulary. */
export function checkTokenId(id: number, vocab: number, param: string): void {
  if (!Number.isInteger(id) || id < 0 || id >= vocab) {
    throw new ServerRequestError(
      'SERVE_BAD_REQUEST',
      `Token id ${id} is out of vocabulary (the model has ${vocab} tokens).`,
      {
        param,
      },
    );
  }
}

/**
 * Refuses, before any model work, a request that does not fit the server's limits: a prompt
 * longer than the context, prompt + `max_tokens` beyond it (vLLM's message), or more prompt
 * tokens in one request than `maxBatchTokens`.
 */
export function checkPromptLimits(
  context: ServerContext,
  prompts: readonly (readonly number[])[],
  maxTokens: number | undefined,
  maxTokensParam = 'max_tokens',
): void {
  const { maxModelLen, maxBatchTokens } = context.limits;
  let total = 0;
  for (const prompt of prompts) {
    if (prompt.length === 0) {
      throw new ServerRequestError(
        'SERVE_BAD_REQUEST',
        'The prompt is empty (no tokens): nothing to complete.',
        {
          param: 'prompt',
        },
      );
    }
    total += prompt.length;
    if (prompt.length > maxModelLen) {
      throw new ServerRequestError(
        'SERVE_REQUEST_TOO_LARGE',
        `This model's maximum context length is ${maxModelLen} tokens. However, your request has ${prompt.length} input tokens. Please reduce the length of the input messages.`,
        { param: 'prompt', details: { promptTokens: prompt.length, maxModelLen } },
      );
    }
    if (maxTokens !== undefined && prompt.length + maxTokens > maxModelLen) {
      throw new ServerRequestError(
        'SERVE_REQUEST_TOO_LARGE',
        `This model's maximum context length is ${maxModelLen} tokens. However, you requested ${prompt.length + maxTokens} tokens (${prompt.length} in the messages, ${maxTokens} in the completion). Please reduce the length of the messages or completion.`,
        { param: maxTokensParam, details: { promptTokens: prompt.length, maxTokens, maxModelLen } },
      );
    }
  }
  if (total > maxBatchTokens) {
    throw new ServerRequestError(
      'SERVE_REQUEST_TOO_LARGE',
      `The request has ${total} prompt tokens, more than this server takes in one request (${maxBatchTokens}, --max-batch-tokens). Split the batch into several requests.`,
      { param: 'prompt', details: { promptTokens: total, maxBatchTokens } },
    );
  }
}
