import { isFuseChatError } from '@fusechat/core';
import type { ProviderOutput } from '../logits-provider.js';
import {
  badResponse,
  checkTokenization,
  type DialectContext,
  logprobValue,
  OutputBuilder,
  promptMismatch,
  type RemoteDialect,
  type RemoteServerFacts,
  tooFewEntries,
} from './remote-dialect.js';
import { RemoteProviderError } from './remote-provider-error.js';

/** vLLM's default `--max-logprobs`. */
export const VLLM_DEFAULT_MAX_LOGPROBS = 20;

/**
 * vLLM's OpenAI-compatible server. Capture asks `/v1/completions` for the prompt as token ids with
 * `prompt_logprobs: k` (positions 1..T−1) and one greedy generated token with `logprobs: k` (its
 * top log-probabilities are position T−1's distribution). The probe reads `/v1/models` (the model
 * is served; `max_model_len`) and compares `/tokenize` with the local tokenizer.
 */
export const vllmDialect: RemoteDialect = {
  name: 'vllm',

  async probe(context, texts): Promise<RemoteServerFacts> {
    const { client, modelName, tokenizer } = context;
    const models = await client.request('GET', '/v1/models');
    const cards = (models.json as { data?: unknown })?.data;
    if (!Array.isArray(cards)) {
      throw badResponse(`${client.endpoint}/v1/models`, 'the answer has no "data" list of models');
    }
    const card = cards.find((entry) => (entry as { id?: unknown })?.id === modelName) as
      | { max_model_len?: unknown }
      | undefined;
    if (card === undefined) {
      const served = cards.map((entry) => String((entry as { id?: unknown })?.id));
      throw new RemoteProviderError(
        'REMOTE_MODEL_NOT_SERVED',
        `${client.endpoint} does not serve "${modelName}"; it serves: ${served.join(', ') || '(nothing)'}. Pass one of them as --model-name.`,
        { url: `${client.endpoint}/v1/models`, details: { served } },
      );
    }
    let maxModelLength = Number.isSafeInteger(card.max_model_len)
      ? (card.max_model_len as number)
      : undefined;
    let url = `${client.endpoint}/tokenize`;
    let viaCompletions = false;
    for (const text of texts) {
      let tokens: unknown;
      if (!viaCompletions) {
        try {
          const { json } = await client.request('POST', '/tokenize', {
            model: modelName,
            prompt: text,
            add_special_tokens: false,
          });
          tokens = (json as { tokens?: unknown })?.tokens;
          const limit = (json as { max_model_len?: unknown })?.max_model_len;
          if (maxModelLength === undefined && Number.isSafeInteger(limit)) maxModelLength = limit as number;
        } catch (error) {
          // A gateway that exposes only /v1/*: the server's tokenisation of a text prompt, echoed.
          if (!isFuseChatError(error, 'REMOTE_ROUTE_NOT_FOUND')) throw error;
          viaCompletions = true;
          url = `${client.endpoint}/v1/completions`;
        }
      }
      if (viaCompletions) tokens = await tokenizeByCompletion(context, text, url);
      if (!Array.isArray(tokens) || !tokens.every((id) => Number.isSafeInteger(id))) {
        throw badResponse(url, 'the answer has no list of token ids for the probe text');
      }
      // /tokenize is asked without special tokens; a text completion gets the tokenizer's defaults.
      checkTokenization(
        url,
        tokenizer,
        text,
        tokens as number[],
        viaCompletions
          ? [
              tokenizer.encode(text, { addSpecialTokens: true }),
              tokenizer.encode(text, { addSpecialTokens: false }),
            ]
          : [tokenizer.encode(text, { addSpecialTokens: false })],
      );
    }
    // One position is left for the generated token that carries the last position's distribution.
    return { maxSequenceLength: maxModelLength === undefined ? undefined : maxModelLength - 1 };
  },

  async score(context, inputIds, k, signal): Promise<ProviderOutput> {
    const { client, modelName } = context;
    const url = `${client.endpoint}/v1/completions`;
    let json: unknown;
    try {
      ({ json } = await client.request(
        'POST',
        '/v1/completions',
        {
          model: modelName,
          prompt: Array.from(inputIds),
          max_tokens: 1,
          temperature: 0,
          logprobs: k,
          prompt_logprobs: k,
          return_tokens_as_token_ids: true,
          return_token_ids: true,
        },
        { signal },
      ));
    } catch (error) {
      throw maxLogprobsError(error, k) ?? error;
    }
    return parseVllmCompletion(json, inputIds, k, url);
  },
};

/**
 * A vLLM `/v1/completions` answer (one prompt of token ids, `prompt_logprobs: k`, `logprobs: k`,
 * `max_tokens: 1`, `return_tokens_as_token_ids`) as a provider output.
 *
 * Row `t < T − 1` is `prompt_logprobs[t + 1]`'s entries ranked 1..k, **by `rank`, not by order**:
 * current vLLM puts the actual token first with its true rank, then the top-k; v1 releases before
 * the rank rewrite appended an actual token outside the top-k last with rank k + 1. The actual token
 * is in every entry, which checks the prompt when `prompt_token_ids` is missing (servers before
 * `return_token_ids`). Row `T − 1` is the generated token's `top_logprobs` (keys `token_id:N`),
 * sorted by value. Values vLLM clamps (−9999.0 for −inf) are kept as sent; NaN or null values mark
 * the sequence non-finite.
 *
 * @throws RemoteProviderError `REMOTE_NO_PROMPT_LOGPROBS` (the server ignored `prompt_logprobs`),
 *   `REMOTE_PROMPT_MISMATCH`, `REMOTE_TOO_FEW_LOGPROBS`, `REMOTE_BAD_RESPONSE`.
 */
export function parseVllmCompletion(
  json: unknown,
  inputIds: Int32Array,
  k: number,
  url: string,
): ProviderOutput {
  const length = inputIds.length;
  const choice = (json as { choices?: unknown[] })?.choices?.[0] as
    | {
        prompt_logprobs?: unknown;
        prompt_token_ids?: unknown;
        logprobs?: { top_logprobs?: unknown } | null;
      }
    | undefined;
  if (choice === undefined || choice === null || typeof choice !== 'object') {
    throw badResponse(url, 'the answer has no choices[0]');
  }
  const promptLogprobs = choice.prompt_logprobs;
  if (!Array.isArray(promptLogprobs)) {
    throw new RemoteProviderError(
      'REMOTE_NO_PROMPT_LOGPROBS',
      `${url}: the answer has no prompt_logprobs: the server ignored the request for prompt log-probabilities (is it vLLM ≥ 0.4? another engine behind an OpenAI-compatible route cannot be captured from)`,
      { url },
    );
  }
  if (promptLogprobs.length !== length) {
    throw badResponse(
      url,
      `prompt_logprobs has ${promptLogprobs.length} entries for a prompt of ${length} tokens`,
    );
  }
  if (Array.isArray(choice.prompt_token_ids)) {
    const echoed = choice.prompt_token_ids as unknown[];
    for (let t = 0; t < Math.max(length, echoed.length); t++) {
      if (echoed[t] !== inputIds[t])
        throw promptMismatch(url, t, inputIds[t], echoed[t] as number | undefined);
    }
  }
  const builder = new OutputBuilder(length, k);
  for (let t = 1; t < length; t++) {
    const entries = promptLogprobs[t] as Record<string, { logprob?: unknown; rank?: unknown }> | null;
    if (entries === null || typeof entries !== 'object') {
      throw badResponse(url, `prompt_logprobs[${t}] is not a map of token ids`);
    }
    const actual = entries[String(inputIds[t])];
    if (actual === undefined) throw promptMismatch(url, t, inputIds[t], undefined);
    builder.setNextTokenLogProb(t - 1, logprobValue(actual.logprob));
    const ranked: { id: number; value: number; rank: number }[] = [];
    let unranked = false;
    for (const [key, entry] of Object.entries(entries)) {
      const id = Number(key);
      if (!Number.isSafeInteger(id) || id < 0)
        throw badResponse(url, `prompt_logprobs[${t}] has the key "${key}"`);
      const rank = entry?.rank;
      if (rank === null || rank === undefined) unranked = true;
      ranked.push({
        id,
        value: logprobValue(entry?.logprob),
        rank: typeof rank === 'number' ? rank : Number.NaN,
      });
    }
    // Without ranks (never seen from vLLM, but the field is optional) the k best values are the top-k:
    // an actual token outside it is never better than the k-th.
    const top = unranked
      ? ranked.sort((a, b) => b.value - a.value)
      : ranked.filter((entry) => entry.rank >= 1 && entry.rank <= k).sort((a, b) => a.rank - b.rank);
    if (top.length < k) throw tooFewEntries(url, t - 1, top.length, k, 'vLLM');
    builder.setRow(t - 1, top);
  }
  const topLogprobs = choice.logprobs?.top_logprobs;
  const generated = Array.isArray(topLogprobs)
    ? (topLogprobs[0] as Record<string, unknown> | null)
    : undefined;
  if (generated === undefined || generated === null || typeof generated !== 'object') {
    throw badResponse(
      url,
      'the answer has no logprobs.top_logprobs[0] for the generated token (was logprobs: k dropped?)',
    );
  }
  const last: { id: number; value: number }[] = [];
  for (const [key, value] of Object.entries(generated)) {
    const match = /^token_id:(\d+)$/.exec(key);
    if (match === null) {
      throw badResponse(
        url,
        `the generated token's top_logprobs are keyed by text ("${key}"), not "token_id:N": the server ignored return_tokens_as_token_ids (upgrade vLLM, or start it with --return-tokens-as-token-ids)`,
      );
    }
    last.push({ id: Number(match[1]), value: logprobValue(value) });
  }
  last.sort((a, b) => b.value - a.value);
  if (last.length < k) throw tooFewEntries(url, length - 1, last.length, k, 'vLLM');
  builder.setRow(length - 1, last);
  return builder.build();
}

/** The server's token ids of `text` through `/v1/completions` (`return_token_ids` echoes them). */
async function tokenizeByCompletion(context: DialectContext, text: string, url: string): Promise<unknown> {
  const { json } = await context.client.request('POST', '/v1/completions', {
    model: context.modelName,
    prompt: text,
    max_tokens: 1,
    temperature: 0,
    return_token_ids: true,
  });
  const ids = (json as { choices?: { prompt_token_ids?: unknown }[] })?.choices?.[0]?.prompt_token_ids;
  if (!Array.isArray(ids)) {
    throw badResponse(
      url,
      'the server has no /tokenize route and its completions carry no prompt_token_ids (vLLM before return_token_ids): the tokenizer cannot be checked; expose /tokenize',
    );
  }
  return ids;
}

/** vLLM's refusal of `k` above `--max-logprobs`, as an error that names the flag; else undefined. */
function maxLogprobsError(error: unknown, k: number): RemoteProviderError | undefined {
  if (!isFuseChatError(error, 'REMOTE_REQUEST_REJECTED')) return undefined;
  const remote = error as RemoteProviderError;
  const match = /(?:prompt|sample) logprobs of (-?\d+),? which is greater than max allowed:? (-?\d+)/i.exec(
    remote.serverMessage ?? '',
  );
  if (match === null) return undefined;
  const cap = Number(match[2]);
  return new RemoteProviderError(
    'REMOTE_MAX_LOGPROBS',
    `${remote.url} caps log-probabilities at ${cap} (vLLM's --max-logprobs${cap === VLLM_DEFAULT_MAX_LOGPROBS ? ', default 20' : ''}) but capture asks for k = ${k}: restart the server with \`vllm serve … --max-logprobs ${k}\`, or capture with --top-k ${cap} [server: ${remote.serverMessage}]`,
    {
      url: remote.url,
      status: remote.status,
      serverMessage: remote.serverMessage,
      cause: error,
      details: { cap, k },
    },
  );
}
