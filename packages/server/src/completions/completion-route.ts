import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { serializeJson } from '../http/serialize-json.js';
import { errorBody, ServerRequestError } from '../http/server-error.js';
import { openEventStream } from '../http/sse.js';
import type { ScoredSequence } from '../scoring/create-scoring-queue.js';
import type { ServerContext } from '../server-context.js';
import {
  cappedLogprobs,
  checkLogprobCount,
  checkModel,
  checkPromptLimits,
  checkTokenId,
  resolveSampling,
  type SamplingFields,
} from './resolve-request.js';
import {
  decodeContinuation,
  type GenerationParams,
  type GenerationResult,
  runGeneration,
} from './run-generation.js';
import {
  completionLogprobs,
  type PositionLogprobs,
  positionLogprobs,
  promptLogprobs,
} from './vllm-logprobs.js';

/** The `/v1/completions` body this server reads (vLLM's `CompletionRequest`; other fields are ignored as vLLM ignores unknown ones). */
export interface CompletionRequestBody extends SamplingFields {
  prompt?: string | string[] | number[] | number[][] | null;
  echo?: boolean | null;
  logprobs?: number | null;
  add_special_tokens?: boolean;
  return_tokens_as_token_ids?: boolean | null;
  suffix?: string | null;
}

const integerOrNull = { type: ['integer', 'null'] } as const;
const numberOrNull = { type: ['number', 'null'] } as const;
const booleanOrNull = { type: ['boolean', 'null'] } as const;

/**
 * JSON schema of the fields read, typed as vLLM's `CompletionRequest`
 * (vllm/entrypoints/openai/completion/protocol.py, commit 002032ee).
 */
export const completionRequestSchema = {
  type: 'object',
  properties: {
    model: { type: ['string', 'null'] },
    prompt: {
      anyOf: [
        { type: 'string' },
        { type: 'array', items: { type: 'string' } },
        { type: 'array', items: { type: 'integer', minimum: 0 } },
        { type: 'array', items: { type: 'array', items: { type: 'integer', minimum: 0 } } },
        { type: 'null' },
      ],
    },
    echo: booleanOrNull,
    logprobs: integerOrNull,
    max_tokens: integerOrNull,
    n: { type: 'integer' },
    seed: integerOrNull,
    stop: { anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }, { type: 'null' }] },
    stream: booleanOrNull,
    stream_options: {
      anyOf: [
        {
          type: 'object',
          properties: { include_usage: booleanOrNull, continuous_usage_stats: booleanOrNull },
        },
        { type: 'null' },
      ],
    },
    suffix: { type: ['string', 'null'] },
    temperature: numberOrNull,
    top_p: numberOrNull,
    top_k: integerOrNull,
    repetition_penalty: numberOrNull,
    use_beam_search: { type: 'boolean' },
    stop_token_ids: { anyOf: [{ type: 'array', items: { type: 'integer' } }, { type: 'null' }] },
    include_stop_str_in_output: { type: 'boolean' },
    ignore_eos: { type: 'boolean' },
    skip_special_tokens: { type: 'boolean' },
    prompt_logprobs: integerOrNull,
    add_special_tokens: { type: 'boolean' },
    return_tokens_as_token_ids: booleanOrNull,
    return_token_ids: booleanOrNull,
  },
} as const;

interface PreparedPrompt {
  readonly ids: number[];
  /** The prompt as text: the request's string, or the decoded ids. */
  readonly text: string;
}

/** Registers `POST /v1/completions`. */
export function registerCompletionRoute(app: FastifyInstance, context: ServerContext): void {
  app.post<{ Body: CompletionRequestBody }>(
    '/v1/completions',
    { schema: { body: completionRequestSchema } },
    async (request, reply) => {
      const body = request.body ?? {};
      checkModel(context, body.model);
      const prompts = preparePrompts(context, body);
      const echo = body.echo ?? false;
      const maxTokens = body.max_tokens ?? 16;
      if (maxTokens < 0 || (maxTokens === 0 && !echo)) {
        throw new ServerRequestError(
          'SERVE_BAD_REQUEST',
          `max_tokens must be at least 1, got ${maxTokens}.`,
          {
            param: 'max_tokens',
          },
        );
      }
      if (body.suffix !== undefined && body.suffix !== null) {
        throw new ServerRequestError('SERVE_BAD_REQUEST', 'suffix is not currently supported', {
          param: 'suffix',
        });
      }
      checkLogprobCount(body.prompt_logprobs, 'prompt_logprobs');
      checkLogprobCount(body.logprobs, 'logprobs');
      const stream = body.stream ?? false;
      if (
        stream &&
        body.prompt_logprobs !== undefined &&
        body.prompt_logprobs !== null &&
        (body.prompt_logprobs > 0 || body.prompt_logprobs === -1)
      ) {
        throw new ServerRequestError(
          'SERVE_BAD_REQUEST',
          '`prompt_logprobs` are not available when `stream=True`.',
          {
            param: 'prompt_logprobs',
          },
        );
      }
      const sampleK =
        body.logprobs === undefined || body.logprobs === null
          ? undefined
          : cappedLogprobs(context, body.logprobs, 'sample', 'logprobs');
      // vLLM: echo without prompt_logprobs reports the prompt with `logprobs` entries.
      const promptRequested = body.prompt_logprobs ?? (echo ? body.logprobs : undefined) ?? undefined;
      const promptK =
        promptRequested === undefined || promptRequested === null
          ? undefined
          : cappedLogprobs(context, promptRequested, 'prompt', 'prompt_logprobs');
      const generate = maxTokens > 0;
      checkPromptLimits(
        context,
        prompts.map((prompt) => prompt.ids),
        generate ? maxTokens : undefined,
      );
      const params = resolveSampling(context, body, maxTokens);
      const id = `cmpl-${randomUUID().replaceAll('-', '')}`;
      const created = Math.floor(Date.now() / 1000);
      const returnTokenIds = body.return_token_ids ?? false;
      const asTokenIds = body.return_tokens_as_token_ids ?? false;
      const decode = context.decodeToken;

      const scoreOf = async (prompt: PreparedPrompt, generated: GenerationResult | undefined) => {
        if (sampleK === undefined && promptK === undefined) return undefined;
        const k = Math.max(1, sampleK ?? 0, promptK ?? 0);
        const sequence = [...prompt.ids, ...(generated?.tokenIds ?? [])];
        return context.scoring.score(sequence, k);
      };

      if (stream) {
        const events = openEventStream(reply);
        let promptTokens = 0;
        let completionTokens = 0;
        try {
          for (const [index, prompt] of prompts.entries()) {
            if (events.closed) break;
            promptTokens += prompt.ids.length;
            const chunks: { text: string; tokenIds: number[] }[] = [];
            const live = sampleK === undefined;
            const writeChunk = (
              text: string,
              tokenIds: readonly number[],
              logprobs: unknown,
              finishReason: string | null,
              stopReason: string | number | null,
              promptTokenIds: readonly number[] | null,
            ) =>
              events.send({
                id,
                object: 'text_completion',
                created,
                model: context.modelName,
                choices: [
                  {
                    index,
                    text,
                    logprobs,
                    finish_reason: finishReason,
                    stop_reason: stopReason,
                    prompt_token_ids: promptTokenIds,
                    token_ids: returnTokenIds ? [...tokenIds] : null,
                  },
                ],
              });
            const promptText = echo && !returnTokenIds ? prompt.text : '';
            if (echo && live)
              writeChunk(promptText, prompt.ids, null, null, null, returnTokenIds ? prompt.ids : null);
            else if (returnTokenIds && live) writeChunk('', [], null, null, null, prompt.ids);
            let generated: GenerationResult | undefined;
            if (generate) {
              generated = await runGeneration(
                context.model,
                context.tokenizer,
                prompt.ids,
                params,
                context.eosTokenIds,
                (delta, tokenIds) => {
                  if (live) writeChunk(delta, tokenIds, null, null, null, null);
                  else chunks.push({ text: delta, tokenIds: [...tokenIds] });
                },
                () => events.closed,
              );
              completionTokens += generated.tokenIds.length;
            }
            if (!live) {
              const scored = (await scoreOf(prompt, generated))!;
              const promptPositions =
                promptK === undefined ? [] : promptLogprobs(prompt.ids, scored, promptK, decode);
              let offset = 0;
              if (echo) {
                const logprobs = completionLogprobs(
                  prompt.ids,
                  promptPositions,
                  sampleK!,
                  decode,
                  asTokenIds,
                  0,
                );
                writeChunk(promptText, prompt.ids, logprobs, null, null, returnTokenIds ? prompt.ids : null);
                offset = promptText.length;
              } else if (returnTokenIds) {
                writeChunk('', [], null, null, null, prompt.ids);
              }
              let position = prompt.ids.length - 1;
              for (const chunk of chunks) {
                const positions = chunk.tokenIds.map((tokenId, j) =>
                  positionLogprobs(scored, position + j, tokenId, sampleK!, decode),
                );
                const logprobs = completionLogprobs(
                  chunk.tokenIds,
                  positions,
                  sampleK!,
                  decode,
                  asTokenIds,
                  offset,
                );
                writeChunk(chunk.text, chunk.tokenIds, logprobs, null, null, null);
                position += chunk.tokenIds.length;
                offset += chunk.text.length;
              }
            }
            writeChunk(
              '',
              [],
              null,
              generated?.finishReason ?? 'length',
              generated?.stopReason ?? null,
              null,
            );
          }
          if (body.stream_options?.include_usage === true) {
            events.send({
              id,
              object: 'text_completion',
              created,
              model: context.modelName,
              choices: [],
              usage: {
                prompt_tokens: promptTokens,
                total_tokens: promptTokens + completionTokens,
                completion_tokens: completionTokens,
              },
            });
          }
        } catch (error) {
          context.logger.error(
            `completion stream failed: ${error instanceof Error ? error.message : String(error)}`,
          );
          const status = error instanceof ServerRequestError ? error.statusCode : 500;
          events.send(errorBody(status, error instanceof Error ? error.message : String(error)));
        }
        events.done();
        return reply;
      }

      // One greedy token with log-probabilities (what capture asks for): the scoring pass over the
      // prompt already has the last position's top-1, so the generation pass is skipped.
      const greedyFromScores =
        generate &&
        maxTokens === 1 &&
        params.temperature === 0 &&
        params.stop.length === 0 &&
        (sampleK !== undefined || promptK !== undefined);
      const results = await Promise.all(
        prompts.map(async (prompt, index) => {
          let generated: GenerationResult | undefined;
          let scored: ScoredSequence | undefined;
          if (greedyFromScores) {
            ({ generated, scored } = await greedyTokenFromScores(
              context,
              prompt.ids,
              params,
              Math.max(1, sampleK ?? 0, promptK ?? 0),
            ));
          } else {
            generated = generate
              ? await runGeneration(context.model, context.tokenizer, prompt.ids, params, context.eosTokenIds)
              : undefined;
            scored = await scoreOf(prompt, generated);
          }
          const promptPositions =
            promptK === undefined || scored === undefined
              ? null
              : promptLogprobs(prompt.ids, scored, promptK, decode);
          const outputIds = generated?.tokenIds ?? [];
          const outputPositions: PositionLogprobs[] =
            sampleK === undefined || scored === undefined
              ? []
              : outputIds.map((tokenId, j) =>
                  positionLogprobs(scored, prompt.ids.length - 1 + j, tokenId, sampleK, decode),
                );
          const promptText = echo && !returnTokenIds ? prompt.text : '';
          const tokenIds = echo ? [...prompt.ids, ...outputIds] : outputIds;
          const positions = echo ? [...(promptPositions ?? []), ...outputPositions] : outputPositions;
          const choice = {
            index,
            text: promptText + (generated?.text ?? ''),
            logprobs:
              sampleK === undefined
                ? null
                : completionLogprobs(tokenIds, positions, sampleK, decode, asTokenIds),
            finish_reason: generated?.finishReason ?? 'length',
            stop_reason: generated?.stopReason ?? null,
            token_ids: returnTokenIds ? outputIds : null,
            prompt_logprobs: promptPositions,
            prompt_token_ids: returnTokenIds ? prompt.ids : null,
            routed_experts: null,
          };
          return { choice, generatedTokens: outputIds.length };
        }),
      );
      const promptTokens = prompts.reduce((sum, prompt) => sum + prompt.ids.length, 0);
      const completionTokens = results.reduce((sum, result) => sum + result.generatedTokens, 0);
      const response = {
        id,
        object: 'text_completion',
        created,
        model: context.modelName,
        choices: results.map((result) => result.choice),
        service_tier: null,
        system_fingerprint: null,
        usage: {
          prompt_tokens: promptTokens,
          total_tokens: promptTokens + completionTokens,
          completion_tokens: completionTokens,
          prompt_tokens_details: null,
        },
        kv_transfer_params: null,
      };
      return reply.type('application/json; charset=utf-8').send(serializeJson(response));
    },
  );
}

/**
 * Scores the prompt alone and takes the argmax of its last row as the generated token; the
 * returned scores carry that token's log-probability and rank (1) at the last row, as if it had
 * been scored after the prompt.
 */
async function greedyTokenFromScores(
  context: ServerContext,
  prompt: readonly number[],
  params: GenerationParams,
  k: number,
): Promise<{ generated: GenerationResult; scored: ScoredSequence }> {
  const scored = await context.scoring.score(prompt, k);
  const row = prompt.length - 1;
  const token = scored.ids[row * scored.k]!;
  const nextTokenLogProbs = Float32Array.from(scored.nextTokenLogProbs);
  nextTokenLogProbs[row] = scored.logProbs[row * scored.k]!;
  const nextTokenRanks = Int32Array.from(scored.nextTokenRanks);
  nextTokenRanks[row] = 1;
  const stops = new Set([...params.stopTokenIds, ...(params.ignoreEos ? [] : context.eosTokenIds)]);
  return {
    generated: {
      tokenIds: [token],
      text: decodeContinuation(context.tokenizer, prompt, [token], params.skipSpecialTokens),
      finishReason: stops.has(token) ? 'stop' : 'length',
      stopReason: params.stopTokenIds.includes(token) ? token : null,
    },
    scored: { ...scored, nextTokenLogProbs, nextTokenRanks },
  };
}

/** The prompts of a request as token ids (vLLM's prompt forms: text, ids, a batch of either). */
function preparePrompts(context: ServerContext, body: CompletionRequestBody): PreparedPrompt[] {
  const { prompt } = body;
  if (
    prompt === undefined ||
    prompt === null ||
    prompt === '' ||
    (Array.isArray(prompt) && prompt.length === 0)
  ) {
    throw new ServerRequestError(
      'SERVE_BAD_REQUEST',
      'Either prompt or prompt_embeds must be provided and non-empty.',
      {
        param: 'prompt',
      },
    );
  }
  const vocab = context.model.config.vocabSize;
  const addSpecialTokens = body.add_special_tokens ?? true;
  const fromText = (text: string): PreparedPrompt => ({
    ids: context.tokenizer.encode(text, { addSpecialTokens }),
    text,
  });
  const fromIds = (ids: number[], index: number): PreparedPrompt => {
    for (const id of ids) checkTokenId(id, vocab, Array.isArray(prompt[0]) ? `prompt[${index}]` : 'prompt');
    return { ids, text: context.tokenizer.decode(ids) };
  };
  if (typeof prompt === 'string') return [fromText(prompt)];
  const first = prompt[0];
  if (typeof first === 'string') return (prompt as string[]).map(fromText);
  if (typeof first === 'number') return [fromIds(prompt as number[], 0)];
  return (prompt as number[][]).map((ids, index) => fromIds(ids, index));
}
