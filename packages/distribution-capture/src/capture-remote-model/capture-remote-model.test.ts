import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readDataFile, tokenizeExample } from '@fusechat/chat-data';
import { type CaptureRecord, isFuseChatError, type TokenizerLike } from '@fusechat/core';
import { float16Bits, float16Value, openStore } from '@fusechat/distribution-store';
import { loadTokenizer } from '@fusechat/tokenizer-alignment';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type FixtureServer,
  type FixtureServerOptions,
  startFixtureServer,
} from '../remote-provider/testing/fixture-server.js';
import { QWEN3_TOKENIZER_DIR, writeChatData } from '../remote-provider/testing/remote-capture-fixtures.js';
import {
  syntheticPosition,
  syntheticTokenLogprob,
} from '../remote-provider/testing/synthetic-language-model.js';
import {
  type CaptureRemoteModelOptions,
  captureRemoteModel,
  type RemoteCaptureProgressEvent,
} from './capture-remote-model.js';

const EXAMPLES = 14;

describe('captureRemoteModel', () => {
  let root: string;
  let data: string;
  let tokenizer: TokenizerLike;
  let server: FixtureServer | undefined;
  let run = 0;
  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'fusechat-capture-remote-'));
    data = join(root, 'train.jsonl');
    writeChatData(data, EXAMPLES);
    tokenizer = await loadTokenizer(QWEN3_TOKENIZER_DIR);
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  const serve = async (options: Partial<FixtureServerOptions> = {}) => {
    server = await startFixtureServer({ engine: 'vllm', tokenizer, modelName: 'fixture/qwen', ...options });
    return server;
  };
  const capture = (options: Partial<CaptureRemoteModelOptions> = {}) =>
    captureRemoteModel({
      endpoint: server!.url,
      modelName: 'fixture/qwen',
      tokenizerDir: QWEN3_TOKENIZER_DIR,
      dialect: 'vllm',
      data,
      out: join(root, `store-${run++}`),
      k: 6,
      retryBaseDelayMs: 1,
      batchTokens: 120,
      store: { blockExamples: 2, shardTargetBytes: 2_000 },
      ...options,
    });
  const records = async (dir: string) => {
    const store = await openStore(dir);
    try {
      const all: CaptureRecord[] = [];
      for await (const record of store) all.push(record);
      return { manifest: store.manifest, records: all };
    } finally {
      await store.close();
    }
  };

  it('stores what the server computes, on the ids local tokenisation gives', async () => {
    await serve();
    const events: RemoteCaptureProgressEvent[] = [];
    const summary = await capture({ onProgress: (event) => events.push(event) });
    expect(summary.examples).toBe(EXAMPLES);
    expect(summary.alreadyComplete).toBe(false);
    const { manifest, records: stored } = await records(summary.out);
    expect(manifest.complete).toBe(true);
    expect(manifest.identity.capture.valueKind).toBe('logprobs');
    expect(manifest.identity.model).toEqual({
      name: 'fixture/qwen',
      configHash: `vllm:${server!.url}:fixture/qwen`,
    });
    expect(manifest.identity.capture.maxLength).toBe(4095);
    // Independently: render and tokenise the data, and ask the synthetic model in float64.
    let index = 0;
    for await (const example of readDataFile(data)) {
      const expected = tokenizeExample(example, { tokenizer, chatTemplate: tokenizer.chatTemplate });
      const record = stored[index++]!;
      expect(record.id).toBe(expected.id);
      expect(Array.from(record.inputIds)).toEqual(Array.from(expected.inputIds));
      expect(Array.from(record.labelMask)).toEqual(Array.from(expected.labelMask));
      const ids = record.inputIds;
      for (const t of [0, Math.floor(ids.length / 2), ids.length - 1]) {
        const prefix = ids.subarray(0, t + 1);
        const top = syntheticPosition(prefix, tokenizer.vocabSize).ranked.slice(0, 6);
        expect(Array.from(record.topK.ids.subarray(t * 6, t * 6 + 6))).toEqual(top.map((entry) => entry.id));
        expect(Array.from(record.topK.logits.subarray(t * 6, t * 6 + 6))).toEqual(
          top.map((entry) => float16Value(float16Bits(entry.logprob))),
        );
        if (t + 1 < ids.length) {
          const next = syntheticTokenLogprob(prefix, ids[t + 1]!, tokenizer.vocabSize).logprob;
          expect(record.nextTokenLogProbs![t]).toBeCloseTo(next, 2);
        }
      }
    }
    expect(index).toBe(EXAMPLES);
    // Progress carries the traffic; the summary too.
    const last = events.at(-1)!;
    expect(last.completed).toBe(EXAMPLES);
    expect(last.requests).toBeGreaterThanOrEqual(EXAMPLES);
    expect(last.requestsPerSecond).toBeGreaterThan(0);
    expect(summary.requests).toBe(server!.requests.length);
    expect(summary.bytesReceived).toBeGreaterThan(0);
    // A complete store is left alone.
    const again = await capture({ out: summary.out });
    expect(again.alreadyComplete).toBe(true);
  });

  it('SGLang gives the same store records as vLLM', async () => {
    await serve();
    const viaVllm = await capture();
    await server!.close();
    await serve({ engine: 'sglang' });
    const viaSglang = await capture({ dialect: 'sglang', maxLength: 4095 });
    const a = await records(viaVllm.out);
    const b = await records(viaSglang.out);
    expect(b.records).toEqual(a.records);
    expect(b.manifest.identity.model.configHash).toBe(`sglang:${server!.url}:fixture/qwen`);
  });

  it('a server failing mid-capture: a clear error, nothing partial marked complete, the rerun completes identically', async () => {
    await serve();
    const clean = await capture();
    await server!.close();
    await serve();
    server!.injectAt(9, ...Array.from({ length: 3 }, () => ({ kind: 'status' as const, status: 500 })));
    const out = join(root, 'failed-then-resumed');
    const failure = await capture({ out, maxRetries: 2, concurrency: 1 }).catch((error: unknown) => error);
    expect(isFuseChatError(failure, 'REMOTE_REQUEST_FAILED')).toBe(true);
    expect((failure as Error).message).toContain(
      `${server!.url}/v1/completions failed after 3 attempts: HTTP 500`,
    );
    const partial = await records(out);
    expect(partial.manifest.complete).toBe(false);
    expect(partial.records.length).toBeLessThan(EXAMPLES);
    expect(partial.records.length).toBeGreaterThan(0);
    expect(partial.records).toEqual((await records(clean.out)).records.slice(0, partial.records.length));
    const resumed = await capture({ out });
    expect(resumed.resumedFrom).toBe(partial.manifest.cursor);
    expect(resumed.resumedFrom).toBeGreaterThan(0);
    // Byte-identical store apart from the endpoint (the same port was not reused): compare records.
    expect((await records(out)).records).toEqual((await records(clean.out)).records);
    expect((await records(out)).manifest.complete).toBe(true);
  });

  it('fewer than k entries stops the capture with nothing stored as complete', async () => {
    await serve({ fewerEntriesAt: 20 });
    const out = join(root, 'fewer');
    const failure = await capture({ out }).catch((error: unknown) => error);
    expect(isFuseChatError(failure, 'REMOTE_TOO_FEW_LOGPROBS')).toBe(true);
    expect((await records(out)).manifest.complete).toBe(false);
  });

  it('NaN from the server: the example is flagged, not stored', async () => {
    await serve({ nonFiniteAt: 3 });
    const summary = await capture();
    expect(summary.flagged).toBe(EXAMPLES);
    expect(summary.manifest.examples).toBe(0);
  });
});
