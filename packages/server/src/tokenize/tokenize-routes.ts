import { renderChat } from '@fusechat/chat-data';
import type { FastifyInstance } from 'fastify';
import { type ChatMessageBody, chatRequestSchema, toChatMessages } from '../chat/chat-route.js';
import { checkModel, checkTokenId } from '../completions/resolve-request.js';
import { ServerRequestError } from '../http/server-error.js';
import type { ServerContext } from '../server-context.js';

interface TokenizeBody {
  model?: string | null;
  prompt?: string;
  messages?: ChatMessageBody[];
  add_special_tokens?: boolean;
  add_generation_prompt?: boolean;
  return_token_strs?: boolean | null;
  chat_template?: string | null;
  chat_template_kwargs?: Record<string, unknown> | null;
}

/**
 * Registers vLLM's `POST /tokenize` (a `prompt`, or chat `messages` rendered with the template)
 * and `POST /detokenize`, shapes as `TokenizeResponse` / `DetokenizeResponse` in
 * vllm/entrypoints/serve/tokenize/protocol.py (commit 343bacaf).
 */
export function registerTokenizeRoutes(app: FastifyInstance, context: ServerContext): void {
  app.post<{ Body: TokenizeBody }>(
    '/tokenize',
    {
      schema: {
        body: {
          type: 'object',
          properties: {
            model: { type: ['string', 'null'] },
            prompt: { type: 'string' },
            messages: chatRequestSchema.properties.messages,
            add_special_tokens: { type: 'boolean' },
            add_generation_prompt: { type: 'boolean' },
            return_token_strs: { type: ['boolean', 'null'] },
            chat_template: { type: ['string', 'null'] },
            chat_template_kwargs: { type: ['object', 'null'] },
          },
        },
      },
    },
    async (request) => {
      const body = request.body;
      checkModel(context, body.model);
      let tokens: number[];
      if (body.messages !== undefined) {
        const { text } = renderChat(toChatMessages(body.messages), {
          tokenizer: context.tokenizer,
          chatTemplate: body.chat_template ?? context.chatTemplate,
          addGenerationPrompt: body.add_generation_prompt ?? true,
          variables: body.chat_template_kwargs ?? undefined,
        });
        // TokenizeChatRequest: add_special_tokens defaults to false (the template adds them).
        tokens = context.tokenizer.encode(text, { addSpecialTokens: body.add_special_tokens ?? false });
      } else if (body.prompt !== undefined) {
        tokens = context.tokenizer.encode(body.prompt, { addSpecialTokens: body.add_special_tokens ?? true });
      } else {
        throw new ServerRequestError('SERVE_BAD_REQUEST', 'tokenize needs a `prompt` or `messages`.', {
          param: 'prompt',
        });
      }
      return {
        count: tokens.length,
        max_model_len: context.limits.maxModelLen,
        tokens,
        token_strs:
          body.return_token_strs === true ? tokens.map((id) => context.tokenizer.idToToken(id) ?? '') : null,
      };
    },
  );

  app.post<{ Body: { model?: string | null; tokens: number[] } }>(
    '/detokenize',
    {
      schema: {
        body: {
          type: 'object',
          required: ['tokens'],
          properties: {
            model: { type: ['string', 'null'] },
            tokens: { type: 'array', items: { type: 'integer' } },
          },
        },
      },
    },
    async (request) => {
      checkModel(context, request.body.model);
      const vocab = context.model.config.vocabSize;
      for (const id of request.body.tokens) checkTokenId(id, vocab, 'tokens');
      return { prompt: context.tokenizer.decode(request.body.tokens) };
    },
  );
}
