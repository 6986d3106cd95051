import { renderChat } from '@fusechat/chat-data';
import type { TokenizerLike } from '@fusechat/core';
import type { CausalLM } from '@fusechat/model';
import * as tf from '@tensorflow/tfjs-core';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer } from './create-server.js';
import {
  type Json,
  listenOnLoopback,
  parseOrdered,
  parseSse,
  postJson,
  referenceLogSoftmax,
  shapeProblems,
  TEST_CHAT_TEMPLATE,
  tinyModelAndTokenizer,
  VLLM_FIXTURES,
} from './testing/fixtures.js';

let model: CausalLM;
let tokenizer: TokenizerLike;
let app: FastifyInstance;
let base: string;

beforeAll(async () => {
  ({ model, tokenizer } = await tinyModelAndTokenizer(3));
  app = createServer({
    model,
    tokenizer,
    modelName: 'tiny',
    chatTemplate: TEST_CHAT_TEMPLATE,
    limits: { maxModelLen: 64, maxBatchTokens: 100, maxBodyBytes: 20_000 },
  });
  base = await listenOnLoopback(app);
});

afterAll(async () => {
  await app?.close();
  model?.dispose();
});

const PROMPT = [1, 415, 2936, 9060, 285, 1142, 461, 10575, 754, 272];

/** Ranks as vLLM counts them (`(x >= value).sum()`), in float64. */
const rankOf = (row: readonly number[], id: number) => row.filter((value) => value >= row[id]!).length;
const topIds = (row: readonly number[], k: number) =>
  row
    .map((value, id) => [value, id] as const)
    .sort((a, b) => b[0] - a[0] || a[1] - b[1])
    .slice(0, k)
    .map(([, id]) => id);

describe('fusechat serve: protocol shapes', () => {
  it('GET /health is 200 and GET /v1/models lists the served model as vLLM does', async () => {
    expect((await fetch(`${base}/health`)).status).toBe(200);
    const models = (await (await fetch(`${base}/v1/models`)).json()) as Json;
    expect(models.object).toBe('list');
    expect(models.data).toHaveLength(1);
    expect(shapeProblems(models.data[0], VLLM_FIXTURES.modelCard)).toEqual([]);
    expect(models.data[0]).toMatchObject({ id: 'tiny', object: 'model', max_model_len: 64 });
  });

  it('a completion with prompt_logprobs has vLLM’s response, choice and usage fields', async () => {
    const { status, json } = await postJson(`${base}/v1/completions`, {
      model: 'tiny',
      prompt: PROMPT,
      max_tokens: 1,
      temperature: 0,
      prompt_logprobs: 3,
      logprobs: 3,
      return_token_ids: true,
    });
    expect(status).toBe(200);
    expect(shapeProblems(json, VLLM_FIXTURES.completionResponse)).toEqual([]);
    expect(json.object).toBe('text_completion');
    expect(json.id).toMatch(/^cmpl-/);
    const [choice] = json.choices;
    expect(shapeProblems(choice, VLLM_FIXTURES.completionResponseChoice)).toEqual([]);
    expect(shapeProblems(choice.logprobs, VLLM_FIXTURES.completionLogProbs)).toEqual([]);
    expect(shapeProblems(json.usage, VLLM_FIXTURES.usage)).toEqual([]);
    expect(json.usage).toMatchObject({
      prompt_tokens: PROMPT.length,
      completion_tokens: 1,
      total_tokens: PROMPT.length + 1,
    });
    expect(choice.prompt_token_ids).toEqual(PROMPT);
    expect(choice.token_ids).toHaveLength(1);
    for (const entry of Object.values(choice.prompt_logprobs[1] as object))
      expect(shapeProblems(entry as Record<string, unknown>, VLLM_FIXTURES.logprob)).toEqual([]);
  });
});

describe('fusechat serve: prompt_logprobs numerics', () => {
  it('equal an independent float64 log-softmax of model.logits: values, true ranks, top-k order, actual token first', async () => {
    const k = 5;
    const { status, text } = await postJson(`${base}/v1/completions`, {
      prompt: PROMPT,
      max_tokens: 1,
      temperature: 0,
      prompt_logprobs: k,
    });
    expect(status).toBe(200);
    const ordered = parseOrdered(text) as { entries: [string, Json][] };
    const choices = ordered.entries.find(([key]) => key === 'choices')![1] as { entries: [string, Json][] }[];
    const list = choices[0]!.entries.find(([key]) => key === 'prompt_logprobs')![1] as ({
      entries: [string, Json][];
    } | null)[];
    expect(list).toHaveLength(PROMPT.length);
    expect(list[0]).toBeNull();
    const reference = await referenceLogSoftmax(model, PROMPT);
    let outsideTopK = 0;
    for (let t = 1; t < PROMPT.length; t++) {
      const row = reference[t - 1]!;
      const actual = PROMPT[t]!;
      const entries = list[t]!.entries.map(([key, value]) => {
        const fields = Object.fromEntries(value.entries);
        return { id: Number(key), logprob: fields.logprob, rank: fields.rank, decoded: fields.decoded_token };
      });
      const top = topIds(row, k);
      const expectedIds = top.includes(actual) ? top : [actual, ...top];
      // The actual token first, then the top-k by rank; k entries when it is among them.
      expect(entries[0]!.id).toBe(actual);
      expect(new Set(entries.map((entry) => entry.id))).toEqual(new Set(expectedIds));
      expect(entries).toHaveLength(top.includes(actual) ? k : k + 1);
      if (!top.includes(actual)) {
        outsideTopK++;
        expect(entries[0]!.rank).toBe(rankOf(row, actual));
        expect(entries.slice(1).map((entry) => entry.id)).toEqual(top);
        expect(entries.slice(1).map((entry) => entry.rank)).toEqual([1, 2, 3, 4, 5]);
      } else {
        expect(entries[0]!.rank).toBe(top.indexOf(actual) + 1);
      }
      for (const entry of entries) {
        expect(Math.abs(entry.logprob - row[entry.id]!)).toBeLessThan(1e-4);
        expect(entry.decoded).toBe(tokenizer.decode([entry.id]));
      }
    }
    // A random 32k-vocabulary model: most actual tokens sit far outside the top 5.
    expect(outsideTopK).toBeGreaterThan(5);
  });

  it('caps logprobs at --max-logprobs with vLLM’s message', async () => {
    const { status, json } = await postJson(`${base}/v1/completions`, {
      prompt: PROMPT,
      max_tokens: 1,
      prompt_logprobs: 21,
    });
    expect(status).toBe(400);
    expect(json.error.message).toBe('Requested prompt logprobs of 21, which is greater than max allowed: 20');
    const sample = await postJson(`${base}/v1/completions`, { prompt: PROMPT, max_tokens: 1, logprobs: 25 });
    expect(sample.json.error.message).toBe(
      'Requested sample logprobs of 25, which is greater than max allowed: 20',
    );
  });
});

describe('fusechat serve: generation', () => {
  it('greedy completion equals argmax decoding of the full logits, step by step', async () => {
    const { json } = await postJson(`${base}/v1/completions`, {
      prompt: PROMPT,
      max_tokens: 6,
      temperature: 0,
      ignore_eos: true,
      return_token_ids: true,
    });
    const sequence = [...PROMPT];
    for (let step = 0; step < 6; step++) {
      const rows = await referenceLogSoftmax(model, sequence);
      sequence.push(topIds(rows.at(-1)!, 1)[0]!);
    }
    expect(json.choices[0].token_ids).toEqual(sequence.slice(PROMPT.length));
    expect(json.choices[0].finish_reason).toBe('length');
    expect(json.choices[0].text).toBe(
      tokenizer
        .decode(sequence, { skipSpecialTokens: true })
        .slice(tokenizer.decode(PROMPT, { skipSpecialTokens: true }).length),
    );
  });

  it('repetition_penalty (vLLM / transformers) decodes as the library does with it, and changes the output', async () => {
    const request = {
      prompt: PROMPT,
      max_tokens: 8,
      temperature: 0,
      ignore_eos: true,
      return_token_ids: true,
    };
    const plain = (await postJson(`${base}/v1/completions`, request)).json.choices[0].token_ids;
    const { json } = await postJson(`${base}/v1/completions`, { ...request, repetition_penalty: 3 });
    const expected = await model.generate([...PROMPT], {
      maxNewTokens: 8,
      repetitionPenalty: 3,
      stopTokens: [],
    });
    expect(json.choices[0].token_ids).toEqual(expected.tokens);
    expect(json.choices[0].token_ids).not.toEqual(plain);
  });

  it('one greedy token with logprobs (taken from the scoring pass) equals the generate-then-score path', async () => {
    const request = {
      prompt: PROMPT,
      max_tokens: 1,
      temperature: 0,
      logprobs: 3,
      prompt_logprobs: 3,
      return_token_ids: true,
    };
    const fast = await postJson(`${base}/v1/completions`, request);
    // A stop string that never matches forces the general path (generate, then score prompt + token).
    const slow = await postJson(`${base}/v1/completions`, { ...request, stop: ['\u0001never'] });
    const [a, b] = [fast.json.choices[0], slow.json.choices[0]];
    expect(a.token_ids).toEqual(b.token_ids);
    expect(a.text).toBe(b.text);
    expect(a.finish_reason).toBe(b.finish_reason);
    expect(a.logprobs.tokens).toEqual(b.logprobs.tokens);
    expect(Object.keys(a.logprobs.top_logprobs[0])).toEqual(Object.keys(b.logprobs.top_logprobs[0]));
    expect(Math.abs(a.logprobs.token_logprobs[0] - b.logprobs.token_logprobs[0])).toBeLessThan(1e-5);
    expect(a.prompt_logprobs).toEqual(b.prompt_logprobs);
  });

  it('the SSE stream, parsed, equals the non-streamed text and ends with [DONE]', async () => {
    const request = { prompt: 'Call me Ishmael.', max_tokens: 12, temperature: 0.8, seed: 7, echo: true };
    const whole = await postJson(`${base}/v1/completions`, request);
    const response = await fetch(`${base}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...request, stream: true, stream_options: { include_usage: true } }),
    });
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const { events, done } = parseSse(await response.text());
    expect(done).toBe(true);
    const chunks = events.filter((event) => event.choices.length > 0);
    for (const chunk of chunks) {
      expect(chunk.object).toBe('text_completion');
      expect(shapeProblems(chunk.choices[0], VLLM_FIXTURES.completionStreamChoice)).toEqual([]);
    }
    expect(chunks.map((chunk) => chunk.choices[0].text).join('')).toBe(whole.json.choices[0].text);
    expect(whole.json.choices[0].text.startsWith('Call me Ishmael.')).toBe(true);
    expect(chunks.at(-1)!.choices[0].finish_reason).toBe(whole.json.choices[0].finish_reason);
    expect(events.at(-1)!.usage).toEqual({
      prompt_tokens: whole.json.usage.prompt_tokens,
      completion_tokens: whole.json.usage.completion_tokens,
      total_tokens: whole.json.usage.total_tokens,
    });
  });

  it('a stream with logprobs carries the same logprobs as the non-streamed answer', async () => {
    const request = { prompt: [PROMPT, PROMPT.slice(0, 4)], max_tokens: 4, temperature: 0, logprobs: 2 };
    const whole = await postJson(`${base}/v1/completions`, request);
    const streamed = parseSse((await postJson(`${base}/v1/completions`, { ...request, stream: true })).text);
    for (const index of [0, 1]) {
      const chunks = streamed.events.filter((event) => event.choices[0].index === index);
      const tokens = chunks.flatMap((chunk) => chunk.choices[0].logprobs?.tokens ?? []);
      const logprobs = chunks.flatMap((chunk) => chunk.choices[0].logprobs?.token_logprobs ?? []);
      expect(tokens).toEqual(whole.json.choices[index].logprobs.tokens);
      expect(logprobs).toEqual(whole.json.choices[index].logprobs.token_logprobs);
      expect(chunks.map((chunk) => chunk.choices[0].text).join('')).toBe(whole.json.choices[index].text);
    }
  });

  it('a batch of text prompts gives one choice each; a stop string ends generation and is cut', async () => {
    const greedy = await postJson(`${base}/v1/completions`, {
      prompt: 'Hello',
      max_tokens: 8,
      temperature: 0,
      ignore_eos: true,
    });
    const text: string = greedy.json.choices[0].text;
    const stop = text.slice(3, 5);
    expect(stop.length).toBe(2);
    const { json } = await postJson(`${base}/v1/completions`, {
      prompt: ['Hello', 'Goodbye'],
      max_tokens: 8,
      temperature: 0,
      ignore_eos: true,
      stop: [stop],
    });
    expect(json.choices.map((choice: Json) => choice.index)).toEqual([0, 1]);
    expect(json.choices[0].text).toBe(text.slice(0, text.indexOf(stop)));
    expect(json.choices[0].finish_reason).toBe('stop');
    expect(json.choices[0].stop_reason).toBe(stop);
  });

  it('echo + logprobs: the OpenAI logprobs object covers prompt and output; token_id:N with return_tokens_as_token_ids', async () => {
    const { json, text } = await postJson(`${base}/v1/completions`, {
      prompt: PROMPT,
      max_tokens: 2,
      temperature: 0,
      echo: true,
      logprobs: 2,
      return_tokens_as_token_ids: true,
      return_token_ids: true,
    });
    const logprobs = json.choices[0].logprobs;
    const all = [...PROMPT, ...json.choices[0].token_ids];
    expect(logprobs.tokens).toEqual(all.map((id) => `token_id:${id}`));
    expect(logprobs.token_logprobs[0]).toBeNull();
    expect(logprobs.top_logprobs[0]).toBeNull();
    const reference = await referenceLogSoftmax(model, all);
    for (let t = 1; t < all.length; t++) {
      expect(Math.abs(logprobs.token_logprobs[t] - reference[t - 1]![all[t]!]!)).toBeLessThan(1e-4);
      const keys = Object.keys(logprobs.top_logprobs[t]);
      expect(keys.every((key) => /^token_id:\d+$/.test(key))).toBe(true);
      expect(keys.length).toBeGreaterThanOrEqual(2);
      expect(keys.length).toBeLessThanOrEqual(3);
      expect(keys).toContain(`token_id:${all[t]}`);
    }
    // text_offset advances by each token's length (the placeholder strings here).
    for (let t = 1; t < all.length; t++)
      expect(logprobs.text_offset[t] - logprobs.text_offset[t - 1]).toBe(`token_id:${all[t - 1]}`.length);
    // prompt_logprobs keep integer keys and decoded tokens.
    expect(text).toContain(`"prompt_logprobs":[null,{"${PROMPT[1]}":{"logprob":`);
  });
});

describe('fusechat serve: chat, tokenize', () => {
  const messages = [{ role: 'user', content: 'Tell me about whales.' }];

  it('renders the chat template (same tokens as renderChat + encode, and as /tokenize)', async () => {
    const { text: rendered } = renderChat(messages as Json, {
      tokenizer,
      chatTemplate: TEST_CHAT_TEMPLATE,
      addGenerationPrompt: true,
    });
    expect(rendered).toBe('<s>[INST] Tell me about whales. [/INST]');
    const expected = tokenizer.encode(rendered, { addSpecialTokens: false });
    const { status, json } = await postJson(`${base}/v1/chat/completions`, {
      model: 'tiny',
      messages,
      max_tokens: 3,
      temperature: 0,
      logprobs: true,
      top_logprobs: 2,
      return_token_ids: true,
    });
    expect(status).toBe(200);
    expect(json.object).toBe('chat.completion');
    expect(json.prompt_token_ids).toEqual(expected);
    expect(json.usage.prompt_tokens).toBe(expected.length);
    const [choice] = json.choices;
    expect(choice.message.role).toBe('assistant');
    expect(choice.logprobs.content).toHaveLength(choice.token_ids.length);
    for (const entry of choice.logprobs.content) {
      expect(Object.keys(entry).sort()).toEqual(['bytes', 'logprob', 'token', 'top_logprobs']);
      expect(entry.top_logprobs).toHaveLength(2);
    }
    const tokenized = await postJson(`${base}/tokenize`, { messages, return_token_strs: true });
    expect(shapeProblems(tokenized.json, VLLM_FIXTURES.tokenizeResponse)).toEqual([]);
    expect(tokenized.json.tokens).toEqual(expected);
    expect(tokenized.json.token_strs).toEqual(expected.map((id) => tokenizer.idToToken(id)));
  });

  it('the chat stream equals the chat answer', async () => {
    const request = { messages, max_tokens: 6, temperature: 0 };
    const whole = await postJson(`${base}/v1/chat/completions`, request);
    const { events, done } = parseSse(
      (await postJson(`${base}/v1/chat/completions`, { ...request, stream: true })).text,
    );
    expect(done).toBe(true);
    expect(events[0].choices[0].delta).toEqual({ role: 'assistant', content: '' });
    expect(events.map((event) => event.choices[0].delta.content ?? '').join('')).toBe(
      whole.json.choices[0].message.content,
    );
    expect(events.every((event) => event.object === 'chat.completion.chunk')).toBe(true);
  });

  it('/tokenize and /detokenize round-trip a prompt', async () => {
    const { json } = await postJson(`${base}/tokenize`, { prompt: 'Call me Ishmael.' });
    expect(json).toMatchObject({
      count: json.tokens.length,
      max_model_len: 64,
      tokens: tokenizer.encode('Call me Ishmael.'),
    });
    const back = await postJson(`${base}/detokenize`, { tokens: json.tokens });
    expect(shapeProblems(back.json, VLLM_FIXTURES.detokenizeResponse)).toEqual([]);
    expect(back.json.prompt).toBe(tokenizer.decode(json.tokens));
  });
});

describe('fusechat serve: resources', () => {
  it('frees every tensor it makes across requests, and a client leaving a stream leaves the server healthy', async () => {
    const url = `${base}/v1/completions`;
    const warm = {
      prompt: PROMPT,
      max_tokens: 3,
      temperature: 0.5,
      seed: 1,
      prompt_logprobs: 2,
      logprobs: 2,
    };
    await postJson(url, warm);
    const before = tf.memory().numTensors;
    await Promise.all([
      postJson(url, warm),
      postJson(url, { ...warm, max_tokens: 1, temperature: 0 }),
      postJson(url, { prompt: 'Hello', max_tokens: 4, stream: true }),
      postJson(`${base}/v1/chat/completions`, {
        messages: [{ role: 'user', content: 'Hi' }],
        max_tokens: 2,
        logprobs: true,
      }),
    ]);
    const controller = new AbortController();
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: 'Hello', max_tokens: 40, ignore_eos: true, stream: true }),
      signal: controller.signal,
    });
    const reader = response.body!.getReader();
    await reader.read();
    controller.abort();
    await reader.read().catch(() => undefined);
    // Later requests are answered; once the abandoned generation has noticed (at its next token),
    // nothing is left of it.
    for (let attempt = 0; attempt < 20 && tf.memory().numTensors !== before; attempt++)
      expect((await postJson(url, { prompt: PROMPT, max_tokens: 1, temperature: 0 })).status).toBe(200);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('fusechat serve: refusals', () => {
  const expectError = (
    result: { status: number; json: Json; text: string },
    status: number,
    message: RegExp,
  ) => {
    expect(result.status).toBe(status);
    expect(shapeProblems(result.json.error, VLLM_FIXTURES.errorInfo)).toEqual([]);
    expect(result.json.error.code).toBe(status);
    expect(result.json.error.message).toMatch(message);
    expect(result.text).not.toMatch(/\n\s+at /);
  };

  it('bad requests are 400 with OpenAI’s error body and a message', async () => {
    const url = `${base}/v1/completions`;
    expectError(await postJson(url, {}), 400, /Either prompt or prompt_embeds must be provided/);
    expectError(await postJson(url, { prompt: [1, 32000] }), 400, /Token id 32000 is out of vocabulary/);
    expectError(await postJson(url, { prompt: 'hi', max_tokens: 'ten' }), 400, /max_tokens/);
    expectError(await postJson(url, '{"prompt": "hi"'), 400, /JSON|body/i);
    expectError(
      await postJson(url, { prompt: 'hi', logprobs: -2 }),
      400,
      /`logprobs` must be a positive value or -1/,
    );
    expectError(await postJson(url, { prompt: 'hi', top_p: 0 }), 400, /top_p must be in \(0, 1\]/);
    expectError(
      await postJson(url, { prompt: 'hi', repetition_penalty: 0 }),
      400,
      /repetition_penalty must be greater than zero/,
    );
    expectError(await postJson(url, { prompt: 'hi', max_tokens: 0 }), 400, /max_tokens must be at least 1/);
    expectError(
      await postJson(url, { prompt: 'hi', stream: true, prompt_logprobs: 1 }),
      400,
      /`prompt_logprobs` are not available when `stream=True`/,
    );
    expectError(
      await postJson(`${base}/v1/chat/completions`, { messages: [{ role: 'robot', content: 'x' }] }),
      400,
      /role/,
    );
    expectError(
      await postJson(url, { model: 'other', prompt: 'hi' }),
      404,
      /The model `other` does not exist/,
    );
  });

  it('requests over the limits are 400 before any work: context length, batch tokens, body bytes', async () => {
    const url = `${base}/v1/completions`;
    const long = Array.from({ length: 65 }, (_, i) => 100 + i);
    const tooLong = await postJson(url, { prompt: long, max_tokens: 1 });
    expectError(tooLong, 400, /maximum context length is 64 tokens.*65 input tokens/);
    expectError(
      await postJson(url, { prompt: long.slice(0, 60), max_tokens: 10 }),
      400,
      /requested 70 tokens \(60 in the messages, 10 in the completion\)/,
    );
    const batch = Array.from({ length: 3 }, () => long.slice(0, 40));
    expectError(
      await postJson(url, { prompt: batch, max_tokens: 1 }),
      400,
      /120 prompt tokens.*\(100, --max-batch-tokens\)/,
    );
    expectError(
      await postJson(url, { prompt: 'x'.repeat(30_000) }),
      400,
      /larger than this server accepts \(20000 bytes/,
    );
  });

  it('with an API key, /v1 needs Authorization: Bearer (401 otherwise); /health stays open', async () => {
    const guarded = createServer({ model, tokenizer, modelName: 'tiny', apiKey: 'sekret' });
    const url = await listenOnLoopback(guarded);
    try {
      const body = { prompt: [1, 2, 3], max_tokens: 1 };
      expectError(await postJson(`${url}/v1/completions`, body), 401, /Unauthorized/);
      expectError(
        await postJson(`${url}/v1/completions`, body, { authorization: 'Bearer wrong' }),
        401,
        /Unauthorized/,
      );
      expect((await postJson(`${url}/v1/completions`, body, { authorization: 'Bearer sekret' })).status).toBe(
        200,
      );
      expect((await fetch(`${url}/health`)).status).toBe(200);
    } finally {
      await guarded.close();
    }
  });
});
