// A loopback HTTP server (node:http) that answers as vLLM, SGLang, TGI or llama.cpp do, over the
// synthetic model of synthetic-language-model.ts, with faults to inject. The response shapes follow
// the engines' sources (cited in remote-provider.test.ts); prompt_logprobs maps are written by hand
// so their key order is the engine's (JSON.stringify would sort integer keys).
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { TokenizerLike } from '@fusechat/core';
import { syntheticPosition, syntheticTokenLogprob } from './synthetic-language-model.js';

export type FixtureEngine = 'vllm' | 'sglang' | 'tgi' | 'llama.cpp';

/** A fault served instead of one scoring answer. */
export type Fault =
  | { readonly kind: 'status'; readonly status: number; readonly retryAfter?: string; readonly body?: string }
  | { readonly kind: 'garbage' }
  | { readonly kind: 'truncated' }
  | { readonly kind: 'hang' }
  | { readonly kind: 'drop' };

export interface FixtureServerOptions {
  readonly engine: FixtureEngine;
  /** The tokenizer the server tokenises text with (and whose vocabulary the model ranks). */
  readonly tokenizer: TokenizerLike;
  readonly modelName?: string | undefined;
  /**
   * vLLM's order of a prompt_logprobs map: `current` (actual token first with its true rank, then
   * the top-k ranked 1..k) or `v1-appended` (the top-k, then an actual token outside it with rank
   * k + 1, as v1 releases before the rank rewrite did).
   */
  readonly vllmOrder?: 'current' | 'v1-appended' | undefined;
  /** vLLM: answer `prompt_token_ids` when `return_token_ids` is asked (default true; false = older server). */
  readonly promptTokenIds?: boolean | undefined;
  /** vLLM `--max-logprobs` (default 20). */
  readonly maxLogprobs?: number | undefined;
  /** vLLM error bodies: `current` `{"error":{…}}` or the older flat `{"object":"error",…}`. */
  readonly errorStyle?: 'current' | 'flat' | undefined;
  readonly maxModelLength?: number | undefined;
  /** Required as `Authorization: Bearer …` when set. */
  readonly apiKey?: string | undefined;
  /** Adds this to every id the server's tokenizer returns (a "wrong tokenizer"). */
  readonly tokenizeShift?: number | undefined;
  /** Answers one entry fewer than asked at this prompt position. */
  readonly fewerEntriesAt?: number | undefined;
  /** Answers NaN (null in JSON) at this prompt position. */
  readonly nonFiniteAt?: number | undefined;
  /** vLLM behind a gateway that exposes only /v1/* (no /tokenize). */
  readonly onlyV1Routes?: boolean | undefined;
  /** Scores the prompt with its first token replaced (a re-tokenising proxy). */
  readonly scoreOtherPrompt?: boolean | undefined;
}

export interface RecordedRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
}

export interface FixtureServer {
  readonly url: string;
  readonly requests: RecordedRequest[];
  /** Faults served, in order, instead of the next scoring answers. */
  inject(...faults: Fault[]): void;
  /** Faults queued once `count` scoring answers have been given. */
  injectAt(count: number, ...faults: Fault[]): void;
  /** Scoring answers given so far (faults included). */
  readonly scored: number;
  /** Most requests open at the same time so far. */
  readonly maxInFlight: number;
  close(): Promise<void>;
}

/**
 * Starts a fixture server on 127.0.0.1 (a free port).
 *
 * @example
 * ```ts
 * const server = await startFixtureServer({ engine: 'vllm', tokenizer });
 * server.inject({ kind: 'status', status: 503 });
 * await server.close();
 * ```
 */
export async function startFixtureServer(options: FixtureServerOptions): Promise<FixtureServer> {
  const modelName = options.modelName ?? 'fixture/model';
  const vocabSize = options.tokenizer.vocabSize;
  const maxLogprobs = options.maxLogprobs ?? 20;
  const maxModelLength = options.maxModelLength ?? 4096;
  const faults: Fault[] = [];
  const triggers: { at: number; faults: Fault[] }[] = [];
  const requests: RecordedRequest[] = [];
  const sockets = new Set<Socket>();
  let scored = 0;
  let inFlight = 0;
  let maxInFlight = 0;

  const tokenize = (text: string, addSpecialTokens: boolean) =>
    options.tokenizer.encode(text, { addSpecialTokens }).map((id) => id + (options.tokenizeShift ?? 0));

  const sendJson = (response: ServerResponse, status: number, body: unknown | string) => {
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    response.writeHead(status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
    });
    response.end(text);
  };
  const vllmError = (response: ServerResponse, status: number, message: string) =>
    sendJson(
      response,
      status,
      options.errorStyle === 'flat'
        ? { object: 'error', message, type: 'BadRequestError', param: null, code: status }
        : { error: { message, type: 'BadRequestError', param: null, code: status } },
    );

  /** Applies a queued fault; true when it answered. */
  const fault = (response: ServerResponse, socket: Socket): boolean => {
    const next = faults.shift();
    if (next === undefined) return false;
    switch (next.kind) {
      case 'status': {
        const headers: Record<string, string> = { 'content-type': 'application/json' };
        if (next.retryAfter !== undefined) headers['retry-after'] = next.retryAfter;
        response.writeHead(next.status, headers);
        response.end(next.body ?? JSON.stringify({ error: { message: `injected ${next.status}` } }));
        return true;
      }
      case 'garbage':
        sendJson(response, 200, '{"choices": [{"prompt_logprobs": [null, {"12": {"logprob": -1.5,');
        return true;
      case 'truncated':
        response.writeHead(200, { 'content-type': 'application/json', 'content-length': '4096' });
        response.write('{"choices":[{"index":0,"prompt_logprobs":[null,');
        setImmediate(() => socket.destroy());
        return true;
      case 'hang':
        return true; // never answers; close() destroys the socket
      case 'drop':
        socket.destroy();
        return true;
    }
  };

  const scorePrompt = (inputIds: number[]) =>
    options.scoreOtherPrompt ? [(inputIds[0]! + 1) % vocabSize, ...inputIds.slice(1)] : inputIds;

  /** Rows 1..T−1 and the generated token's row of the synthetic model, with the injected defects. */
  const positions = (ids: number[], k: number) => {
    const rows: {
      top: { id: number; logprob: number }[];
      actual?: { id: number; logprob: number; rank: number };
    }[] = [];
    for (let t = 1; t <= ids.length; t++) {
      const prefix = ids.slice(0, t);
      let top = syntheticPosition(prefix, vocabSize)
        .ranked.slice(0, k)
        .map((entry) => ({ ...entry }));
      if (options.fewerEntriesAt === t) top = top.slice(0, k - 1);
      if (options.nonFiniteAt === t) top[0]!.logprob = Number.NaN;
      const actual =
        t < ids.length ? { id: ids[t]!, ...syntheticTokenLogprob(prefix, ids[t]!, vocabSize) } : undefined;
      rows.push({ top, actual });
    }
    return rows;
  };
  const number = (value: number) => (Number.isFinite(value) ? String(value) : 'null');

  const vllmCompletion = (body: Record<string, unknown>, response: ServerResponse) => {
    const prompt = body.prompt;
    const inputIds =
      typeof prompt === 'string'
        ? tokenize(prompt, true)
        : Array.isArray(prompt) && prompt.every((id) => Number.isInteger(id))
          ? (prompt as number[])
          : undefined;
    if (inputIds === undefined || inputIds.length === 0)
      return vllmError(response, 400, 'prompt must be text or token ids');
    for (const field of ['prompt_logprobs', 'logprobs'] as const) {
      const value = body[field];
      if (typeof value === 'number' && value > maxLogprobs) {
        const kind = field === 'prompt_logprobs' ? 'prompt' : 'sample';
        return vllmError(
          response,
          400,
          `Requested ${kind} logprobs of ${value}, which is greater than max allowed: ${maxLogprobs}`,
        );
      }
    }
    if (inputIds.length + 1 > maxModelLength) {
      return vllmError(response, 400, `This model's maximum context length is ${maxModelLength} tokens.`);
    }
    const k = Number(body.logprobs ?? 0);
    const promptK =
      body.prompt_logprobs === undefined || body.prompt_logprobs === null
        ? undefined
        : Number(body.prompt_logprobs);
    const scoredIds = scorePrompt(inputIds);
    const rows = positions(scoredIds, Math.max(k, promptK ?? 0, 1));
    const asIds = body.return_tokens_as_token_ids === true;
    const key = (id: number) =>
      JSON.stringify(asIds ? `token_id:${id}` : (options.tokenizer.idToToken(id) ?? ''));
    const entry = (id: number, logprob: number, rank: number) =>
      `"${id}":{"logprob":${number(logprob)},"rank":${rank},"decoded_token":${JSON.stringify(options.tokenizer.idToToken(id) ?? '')}}`;
    let promptLogprobs = 'null';
    if (promptK !== undefined) {
      const maps = ['null'];
      for (let t = 1; t < scoredIds.length; t++) {
        const { top, actual } = rows[t - 1]!;
        const inTop = top.some((candidate) => candidate.id === actual!.id);
        const ranked = top
          .slice(0, promptK)
          .map((candidate, j) => entry(candidate.id, candidate.logprob, j + 1));
        if (options.vllmOrder === 'v1-appended') {
          if (!inTop) ranked.push(entry(actual!.id, actual!.logprob, promptK + 1));
          maps.push(`{${ranked.join(',')}}`);
        } else {
          const first = entry(actual!.id, actual!.logprob, actual!.rank);
          const rest = top
            .slice(0, promptK)
            .map((candidate, j) =>
              candidate.id === actual!.id ? undefined : entry(candidate.id, candidate.logprob, j + 1),
            )
            .filter((text) => text !== undefined);
          maps.push(`{${[first, ...rest].join(',')}}`);
        }
      }
      promptLogprobs = `[${maps.join(',')}]`;
    }
    const last = rows[rows.length - 1]!.top;
    const generated = last[0]!;
    const logprobs =
      body.logprobs === undefined || body.logprobs === null
        ? 'null'
        : JSON.stringify({
            text_offset: [0],
            token_logprobs: [Math.max(generated.logprob, -9999)],
            tokens: [asIds ? `token_id:${generated.id}` : (options.tokenizer.idToToken(generated.id) ?? '')],
            top_logprobs: [null],
          }).replace(
            '"top_logprobs":[null]',
            `"top_logprobs":[{${last
              .slice(0, k)
              .map(
                (candidate) =>
                  `${key(candidate.id)}:${Number.isFinite(candidate.logprob) ? Math.max(candidate.logprob, -9999) : 'null'}`,
              )
              .join(',')}}]`,
          );
    const withIds = body.return_token_ids === true && options.promptTokenIds !== false;
    const choice = [
      `"index":0`,
      `"text":${JSON.stringify(options.tokenizer.decode([generated.id]))}`,
      `"logprobs":${logprobs}`,
      `"finish_reason":"length"`,
      `"stop_reason":null`,
      `"prompt_logprobs":${promptLogprobs}`,
      ...(withIds
        ? [`"prompt_token_ids":${JSON.stringify(scoredIds)}`, `"token_ids":[${generated.id}]`]
        : []),
    ].join(',');
    sendJson(
      response,
      200,
      `{"id":"cmpl-fixture","object":"text_completion","created":0,"model":${JSON.stringify(modelName)},"choices":[{${choice}}],"usage":{"prompt_tokens":${inputIds.length},"total_tokens":${inputIds.length + 1},"completion_tokens":1}}`,
    );
  };

  const sglangGenerate = (body: Record<string, unknown>, response: ServerResponse) => {
    const inputIds =
      typeof body.text === 'string'
        ? tokenize(body.text, true)
        : Array.isArray(body.input_ids)
          ? (body.input_ids as number[])
          : undefined;
    if (inputIds === undefined || inputIds.length === 0) {
      return sendJson(response, 400, { error: { message: 'Either text or input_ids should be provided.' } });
    }
    const k = Number(body.top_logprobs_num ?? 0);
    const startLength = Number(body.logprob_start_len ?? -1);
    const scoredIds = typeof body.text === 'string' ? inputIds : scorePrompt(inputIds);
    const rows = positions(scoredIds, Math.max(k, 1));
    const generated = rows[rows.length - 1]!.top[0]!;
    const triple = (logprob: number | null, id: number) => [
      logprob === null ? null : Number.isFinite(logprob) ? logprob : null,
      id,
      null,
    ];
    const meta: Record<string, unknown> = {
      id: 'fixture',
      finish_reason: { type: 'length', length: 1 },
      prompt_tokens: inputIds.length,
      completion_tokens: 1,
      cached_tokens: 0,
    };
    if (body.return_logprob === true) {
      const input = startLength === 0;
      meta.input_token_logprobs = input
        ? scoredIds.map((id, t) => triple(t === 0 ? null : rows[t - 1]!.actual!.logprob, id))
        : [];
      meta.output_token_logprobs = [triple(generated.logprob, generated.id)];
      if (k > 0) {
        meta.input_top_logprobs = input
          ? scoredIds.map((_, t) =>
              t === 0 ? null : rows[t - 1]!.top.map((entry) => triple(entry.logprob, entry.id)),
            )
          : [];
        meta.output_top_logprobs = [
          rows[rows.length - 1]!.top.map((entry) => triple(entry.logprob, entry.id)),
        ];
      }
    }
    sendJson(response, 200, {
      text: options.tokenizer.decode([generated.id]),
      output_ids: [generated.id],
      meta_info: meta,
    });
  };

  const handle = (request: IncomingMessage, response: ServerResponse, body: string) => {
    const method = request.method ?? 'GET';
    const route = (request.url ?? '/').split('?')[0]!;
    requests.push({ method, url: route, headers: request.headers, body });
    if (options.apiKey !== undefined && request.headers.authorization !== `Bearer ${options.apiKey}`) {
      return sendJson(response, 401, { error: 'Unauthorized' });
    }
    let json: Record<string, unknown> = {};
    if (method === 'POST') {
      try {
        json = JSON.parse(body) as Record<string, unknown>;
      } catch {
        return sendJson(response, 400, { error: { message: 'body is not JSON' } });
      }
    }
    const scoring = () => {
      for (const trigger of triggers.filter((entry) => entry.at === scored)) faults.push(...trigger.faults);
      scored++;
      return fault(response, request.socket);
    };
    switch (options.engine) {
      case 'vllm':
        if (method === 'GET' && route === '/v1/models') {
          return sendJson(response, 200, {
            object: 'list',
            data: [
              {
                id: modelName,
                object: 'model',
                created: 0,
                owned_by: 'vllm',
                root: modelName,
                parent: null,
                max_model_len: maxModelLength,
                permission: [],
              },
            ],
          });
        }
        if (method === 'POST' && route === '/tokenize' && options.onlyV1Routes !== true) {
          const tokens = tokenize(String(json.prompt ?? ''), json.add_special_tokens !== false);
          return sendJson(response, 200, {
            count: tokens.length,
            max_model_len: maxModelLength,
            tokens,
            token_strs: null,
          });
        }
        if (method === 'POST' && route === '/v1/completions') {
          if (typeof json.prompt === 'string') return vllmCompletion(json, response);
          return scoring() || vllmCompletion(json, response);
        }
        return sendJson(response, 404, { detail: 'Not Found' });
      case 'sglang':
        if (method === 'GET' && route === '/get_model_info') {
          return sendJson(response, 200, {
            model_path: modelName,
            tokenizer_path: modelName,
            is_generation: true,
          });
        }
        if (method === 'POST' && route === '/generate') {
          if (typeof json.text === 'string') return sglangGenerate(json, response);
          return scoring() || sglangGenerate(json, response);
        }
        return sendJson(response, 404, { detail: 'Not Found' });
      case 'tgi':
        if (method === 'GET' && route === '/info') {
          return sendJson(response, 200, {
            model_id: modelName,
            model_sha: null,
            model_pipeline_tag: 'text-generation',
            max_concurrent_requests: 128,
            max_best_of: 2,
            max_stop_sequences: 4,
            max_input_tokens: 4095,
            max_total_tokens: 4096,
            validation_workers: 2,
            max_client_batch_size: 4,
            router: 'text-generation-router',
            version: '3.2.1',
            sha: null,
            docker_label: null,
          });
        }
        return sendJson(response, 404, { error: 'Not Found', error_type: 'not_found' });
      case 'llama.cpp':
        if (method === 'GET' && route === '/props') {
          return sendJson(response, 200, {
            default_generation_settings: { n_ctx: 4096, params: { n_probs: 0 } },
            total_slots: 1,
            model_path: `/models/${modelName}.gguf`,
            chat_template: '',
            build_info: 'b5200-fixture',
          });
        }
        if (method === 'POST' && route === '/tokenize') return sendJson(response, 200, { tokens: [] });
        if (method === 'GET' && route === '/v1/models') {
          return sendJson(response, 200, { object: 'list', data: [{ id: modelName, object: 'model' }] });
        }
        return sendJson(response, 404, {
          error: { code: 404, message: 'File Not Found', type: 'not_found_error' },
        });
    }
  };

  const server = createServer((request, response) => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    response.on('close', () => inFlight--);
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      try {
        handle(request, response, Buffer.concat(chunks).toString('utf8'));
      } catch (error) {
        if (!response.headersSent) sendJson(response, 500, { error: { message: String(error) } });
      }
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    inject: (...more) => faults.push(...more),
    injectAt: (at, ...more) => triggers.push({ at, faults: more }),
    get scored() {
      return scored;
    },
    get maxInFlight() {
      return maxInFlight;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
