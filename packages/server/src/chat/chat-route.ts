import { randomUUID } from 'node:crypto';
import { type ChatMessage, type ChatRole, renderChat } from '@fusechat/chat-data';
import type { FastifyInstance } from 'fastify';
import {
  cappedLogprobs,
  checkLogprobCount,
  checkModel,
  checkPromptLimits,
  resolveSampling,
  type SamplingFields,
} from '../completions/resolve-request.js';
import { runGeneration } from '../completions/run-generation.js';
import { type PositionLogprobs, positionLogprobs, promptLogprobs } from '../completions/vllm-logprobs.js';
import { serializeJson } from '../http/serialize-json.js';
import { errorBody, ServerRequestError } from '../http/server-error.js';
import { openEventStream } from '../http/sse.js';
import type { ServerContext } from '../server-context.js';

/** A message as OpenAI sends it: content as text, or a list of parts of which the text parts are read. */
export interface ChatMessageBody {
  role: string;
  content?: string | { type: string; text?: string }[] | null;
}

/** The `/v1/chat/completions` body this server reads (vLLM's `ChatCompletionRequest`). */
export interface ChatRequestBody extends SamplingFields {
  messages: ChatMessageBody[];
  max_completion_tokens?: number | null;
  logprobs?: boolean | null;
  top_logprobs?: number | null;
  add_generation_prompt?: boolean;
  continue_final_message?: boolean;
  add_special_tokens?: boolean;
  chat_template?: string | null;
  chat_template_kwargs?: Record<string, unknown> | null;
  return_tokens_as_token_ids?: boolean | null;
}

const ROLES: readonly ChatRole[] = ['system', 'user', 'assistant', 'tool'];

/** JSON schema of the fields read (vllm/entrypoints/openai/chat_completion/protocol.py, commit d5dba2d7). */
export const chatRequestSchema = {
  type: 'object',
  required: ['messages'],
  properties: {
    model: { type: ['string', 'null'] },
    messages: {
      type: 'array',
      items: {
        type: 'object',
        required: ['role'],
        properties: {
          role: { type: 'string' },
          content: {
            anyOf: [
              { type: 'string' },
              {
                type: 'array',
                items: {
                  type: 'object',
                  required: ['type'],
                  properties: { type: { type: 'string' }, text: { type: 'string' } },
                },
              },
              { type: 'null' },
            ],
          },
        },
      },
    },
    max_tokens: { type: ['integer', 'null'] },
    max_completion_tokens: { type: ['integer', 'null'] },
    logprobs: { type: ['boolean', 'null'] },
    top_logprobs: { type: ['integer', 'null'] },
    n: { type: 'integer' },
    seed: { type: ['integer', 'null'] },
    stop: { anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }, { type: 'null' }] },
    stream: { type: ['boolean', 'null'] },
    temperature: { type: ['number', 'null'] },
    top_p: { type: ['number', 'null'] },
    top_k: { type: ['integer', 'null'] },
    repetition_penalty: { type: ['number', 'null'] },
    add_generation_prompt: { type: 'boolean' },
    continue_final_message: { type: 'boolean' },
    add_special_tokens: { type: 'boolean' },
    chat_template: { type: ['string', 'null'] },
    chat_template_kwargs: { type: ['object', 'null'] },
    prompt_logprobs: { type: ['integer', 'null'] },
    return_token_ids: { type: ['boolean', 'null'] },
    return_tokens_as_token_ids: { type: ['boolean', 'null'] },
  },
} as const;

/**
 * Messages as plain text turns (text parts joined with newlines, as vLLM's "string" content
 * format), roles checked: what both `/v1/chat/completions` and `/tokenize` render.
 */
export function toChatMessages(messages: readonly ChatMessageBody[]): ChatMessage[] {
  if (messages.length === 0) {
    throw new ServerRequestError('SERVE_BAD_REQUEST', 'messages must contain at least one message.', {
      param: 'messages',
    });
  }
  return messages.map((message, index) => {
    if (!ROLES.includes(message.role as ChatRole)) {
      throw new ServerRequestError(
        'SERVE_BAD_REQUEST',
        `messages[${index}].role must be one of ${ROLES.join(', ')}, got ${JSON.stringify(message.role)}.`,
        { param: `messages[${index}].role` },
      );
    }
    const { content } = message;
    const text =
      content === undefined || content === null
        ? ''
        : typeof content === 'string'
          ? content
          : content
              .filter((part) => part.type === 'text')
              .map((part) => part.text ?? '')
              .join('\n');
    return { role: message.role as ChatRole, content: text };
  });
}

/** One chat log-probability entry (`ChatCompletionLogProb`): the token, its log-probability, its UTF-8 bytes. */
function chatLogprob(token: string, logprob: number) {
  return { token, logprob: Math.max(logprob, -9999), bytes: [...Buffer.from(token, 'utf8')] };
}

/** Registers `POST /v1/chat/completions`: the model's chat template through `@fusechat/chat-data`'s renderer. */
export function registerChatRoute(app: FastifyInstance, context: ServerContext): void {
  app.post<{ Body: ChatRequestBody }>(
    '/v1/chat/completions',
    { schema: { body: chatRequestSchema } },
    async (request, reply) => {
      const body = request.body;
      checkModel(context, body.model);
      const messages = toChatMessages(body.messages);
      if (body.continue_final_message === true && body.add_generation_prompt === true) {
        throw new ServerRequestError(
          'SERVE_BAD_REQUEST',
          'Cannot set both `continue_final_message` and `add_generation_prompt` to True.',
          { param: 'continue_final_message' },
        );
      }
      const chatTemplate = body.chat_template ?? context.chatTemplate;
      const { text } = renderChat(messages, {
        tokenizer: context.tokenizer,
        chatTemplate,
        addGenerationPrompt:
          body.continue_final_message === true ? false : (body.add_generation_prompt ?? true),
        variables: body.chat_template_kwargs ?? undefined,
      });
      const promptIds = context.tokenizer.encode(text, {
        addSpecialTokens: body.add_special_tokens ?? false,
      });
      const requestedMax = body.max_completion_tokens ?? body.max_tokens ?? undefined;
      checkPromptLimits(
        context,
        [promptIds],
        requestedMax,
        body.max_completion_tokens !== undefined ? 'max_completion_tokens' : 'max_tokens',
      );
      const maxTokens = requestedMax ?? context.limits.maxModelLen - promptIds.length;
      if (maxTokens < 1) {
        throw new ServerRequestError(
          'SERVE_BAD_REQUEST',
          `max_tokens must be at least 1, got ${maxTokens}.`,
          {
            param: 'max_tokens',
          },
        );
      }
      checkLogprobCount(body.top_logprobs, 'top_logprobs');
      checkLogprobCount(body.prompt_logprobs, 'prompt_logprobs');
      const wantLogprobs = body.logprobs === true;
      if (
        !wantLogprobs &&
        body.top_logprobs !== undefined &&
        body.top_logprobs !== null &&
        body.top_logprobs > 0
      ) {
        throw new ServerRequestError(
          'SERVE_BAD_REQUEST',
          'when using `top_logprobs`, `logprobs` must be set to true.',
          {
            param: 'top_logprobs',
          },
        );
      }
      const sampleK = wantLogprobs
        ? cappedLogprobs(context, body.top_logprobs ?? 0, 'sample', 'top_logprobs')
        : undefined;
      const promptK =
        body.prompt_logprobs === undefined || body.prompt_logprobs === null
          ? undefined
          : cappedLogprobs(context, body.prompt_logprobs, 'prompt', 'prompt_logprobs');
      const stream = body.stream ?? false;
      if (stream && promptK !== undefined && promptK > 0) {
        throw new ServerRequestError(
          'SERVE_BAD_REQUEST',
          '`prompt_logprobs` are not available when `stream=True`.',
          {
            param: 'prompt_logprobs',
          },
        );
      }
      // vLLM's chat default temperature is also 1.0 unless the model's generation config says otherwise.
      const params = resolveSampling(context, body, maxTokens);
      const id = `chatcmpl-${randomUUID().replaceAll('-', '')}`;
      const created = Math.floor(Date.now() / 1000);
      const asTokenIds = body.return_tokens_as_token_ids ?? false;
      const returnTokenIds = body.return_token_ids ?? false;
      const decode = context.decodeToken;
      const name = (tokenId: number) => (asTokenIds ? `token_id:${tokenId}` : decode(tokenId));
      const contentLogprobs = (positions: readonly PositionLogprobs[], tokenIds: readonly number[]) =>
        positions.map((position, j) => {
          const own = position.get(tokenIds[j]!)!;
          const top = [...position.entries()]
            .filter(([, entry]) => entry.rank <= sampleK!)
            .sort((a, b) => a[1].rank - b[1].rank)
            .slice(0, sampleK)
            .map(([entryId, entry]) => chatLogprob(name(entryId), entry.logprob));
          return { ...chatLogprob(name(tokenIds[j]!), own.logprob), top_logprobs: top };
        });

      if (stream) {
        const events = openEventStream(reply);
        const chunk = (
          delta: Record<string, unknown>,
          logprobs: unknown,
          finishReason: string | null,
          stopReason: unknown,
        ) =>
          events.send({
            id,
            object: 'chat.completion.chunk',
            created,
            model: context.modelName,
            choices: [{ index: 0, delta, logprobs, finish_reason: finishReason, stop_reason: stopReason }],
          });
        try {
          chunk({ role: 'assistant', content: '' }, null, null, null);
          const pieces: { text: string; tokenIds: number[] }[] = [];
          const generated = await runGeneration(
            context.model,
            context.tokenizer,
            promptIds,
            params,
            context.chatEosTokenIds,
            (delta, tokenIds) => {
              if (sampleK === undefined) chunk({ content: delta }, null, null, null);
              else pieces.push({ text: delta, tokenIds: [...tokenIds] });
            },
            () => events.closed,
          );
          if (sampleK !== undefined) {
            const scored = await context.scoring.score(
              [...promptIds, ...generated.tokenIds],
              Math.max(1, sampleK),
            );
            let position = promptIds.length - 1;
            for (const piece of pieces) {
              const positions = piece.tokenIds.map((tokenId, j) =>
                positionLogprobs(scored, position + j, tokenId, sampleK, decode),
              );
              chunk(
                { content: piece.text },
                { content: contentLogprobs(positions, piece.tokenIds) },
                null,
                null,
              );
              position += piece.tokenIds.length;
            }
          }
          chunk({}, null, generated.finishReason, generated.stopReason);
        } catch (error) {
          const status = error instanceof ServerRequestError ? error.statusCode : 500;
          events.send(errorBody(status, error instanceof Error ? error.message : String(error)));
        }
        events.done();
        return reply;
      }

      const generated = await runGeneration(
        context.model,
        context.tokenizer,
        promptIds,
        params,
        context.chatEosTokenIds,
      );
      const needScores = sampleK !== undefined || promptK !== undefined;
      const scored = needScores
        ? await context.scoring.score(
            [...promptIds, ...generated.tokenIds],
            Math.max(1, sampleK ?? 0, promptK ?? 0),
          )
        : undefined;
      const logprobs =
        sampleK === undefined || scored === undefined
          ? null
          : {
              content: contentLogprobs(
                generated.tokenIds.map((tokenId, j) =>
                  positionLogprobs(scored, promptIds.length - 1 + j, tokenId, sampleK, decode),
                ),
                generated.tokenIds,
              ),
            };
      const response = {
        id,
        object: 'chat.completion',
        created,
        model: context.modelName,
        choices: [
          {
            index: 0,
            message: {
              role: 'assistant',
              content: generated.text,
              refusal: null,
              annotations: null,
              audio: null,
              function_call: null,
              tool_calls: [],
              reasoning: null,
            },
            logprobs,
            finish_reason: generated.finishReason,
            stop_reason: generated.stopReason,
            token_ids: returnTokenIds ? generated.tokenIds : null,
          },
        ],
        service_tier: null,
        system_fingerprint: null,
        usage: {
          prompt_tokens: promptIds.length,
          total_tokens: promptIds.length + generated.tokenIds.length,
          completion_tokens: generated.tokenIds.length,
          prompt_tokens_details: null,
        },
        prompt_logprobs:
          promptK === undefined || scored === undefined
            ? null
            : promptLogprobs(promptIds, scored, promptK, decode),
        prompt_token_ids: returnTokenIds ? promptIds : null,
        kv_transfer_params: null,
      };
      return reply.type('application/json; charset=utf-8').send(serializeJson(response));
    },
  );
}
