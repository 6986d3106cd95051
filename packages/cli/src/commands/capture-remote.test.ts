// `fusechat capture --endpoint` end to end against loopback servers that answer as vLLM, SGLang and
// TGI do (the fixture servers of @fusechat/distribution-capture's remote-provider tests).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TokenizerLike } from '@fusechat/core';
import { openStore } from '@fusechat/distribution-store';
import { loadTokenizer } from '@fusechat/tokenizer-alignment';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type FixtureServer,
  type FixtureServerOptions,
  startFixtureServer,
} from '../../../distribution-capture/src/remote-provider/testing/fixture-server.js';
import {
  QWEN3_TOKENIZER_DIR,
  writeChatData,
} from '../../../distribution-capture/src/remote-provider/testing/remote-capture-fixtures.js';
import { runCaptured } from '../test-fixtures.js';

const KEY_VARIABLE = 'FUSECHAT_CAPTURE_REMOTE_TEST_KEY';
const API_KEY = 'sk-cli-test-0f9e8d7c6b5a';

describe('fusechat capture --endpoint', () => {
  let root: string;
  let data: string;
  let tokenizer: TokenizerLike;
  let server: FixtureServer | undefined;
  let run = 0;
  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'fusechat-cli-capture-remote-'));
    data = join(root, 'train.jsonl');
    writeChatData(data, 6);
    tokenizer = await loadTokenizer(QWEN3_TOKENIZER_DIR);
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  afterEach(async () => {
    await server?.close();
    server = undefined;
    delete process.env[KEY_VARIABLE];
  });

  const serve = async (options: Partial<FixtureServerOptions> = {}) => {
    server = await startFixtureServer({ engine: 'vllm', tokenizer, modelName: 'fixture/qwen', ...options });
    return server;
  };
  const remoteArgs = (out: string, extra: string[] = []) => [
    'capture',
    '--endpoint',
    server!.url,
    '--model-name',
    'fixture/qwen',
    '--tokenizer',
    QWEN3_TOKENIZER_DIR,
    '--data',
    data,
    '--top-k',
    '4',
    '--out',
    out,
    ...extra,
  ];

  it('captures from a vLLM server with an API key from the environment, never printing it', async () => {
    await serve({ apiKey: API_KEY });
    process.env[KEY_VARIABLE] = API_KEY;
    const out = join(root, `store-${run++}`);
    const json = await runCaptured(
      remoteArgs(out, ['--api-key-env', KEY_VARIABLE, '--concurrency', '2', '--json']),
    );
    expect(json.stderr).not.toContain(API_KEY);
    expect(json.code).toBe(0);
    const result = JSON.parse(json.stdout) as Record<string, number | boolean>;
    expect(result.examples).toBe(6);
    expect(result.requests).toBe(server!.requests.length);
    expect(result.wireBytesPerToken).toBeGreaterThan(result.bytesPerToken as number);
    const store = await openStore(out, { requireComplete: true });
    try {
      expect(store.size).toBe(6);
      expect(store.manifest.identity.capture.valueKind).toBe('logprobs');
      expect(JSON.stringify(store.manifest)).not.toContain(API_KEY);
    } finally {
      await store.close();
    }
    const again = await runCaptured(remoteArgs(out, ['--api-key-env', KEY_VARIABLE]));
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('is already complete (6 examples');
    const text = await runCaptured(remoteArgs(join(root, `store-${run++}`), ['--api-key-env', KEY_VARIABLE]));
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(
      /^captured 6 examples \(\d+ tokens\) in .* B\/token\); \d+ requests, .* on the wire \(\d+ B\/token\)\n$/,
    );
    expect(`${text.stdout}${text.stderr}`).not.toContain(API_KEY);
  });

  it('SGLang with --dialect sglang', async () => {
    await serve({ engine: 'sglang' });
    const result = await runCaptured(
      remoteArgs(join(root, `store-${run++}`), ['--dialect', 'sglang', '--max-length', '512']),
    );
    expect(result.stderr).toMatch(/capture: 6\/6 examples .*req\/s/);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('captured 6 examples');
  });

  it('one-line reasons: unset key variable, a TGI server, vLLM capped below --top-k, a wrong tokenizer', async () => {
    await serve();
    const unset = await runCaptured(
      remoteArgs(join(root, `store-${run++}`), ['--api-key-env', KEY_VARIABLE]),
    );
    expect(unset.code).toBe(1);
    expect(unset.stderr).toContain(
      `the environment variable ${KEY_VARIABLE} is not set or empty. [CLI_API_KEY_ENV_UNSET]`,
    );
    const capped = await runCaptured([...remoteArgs(join(root, `store-${run++}`)), '--top-k', '30']);
    expect(capped.code).toBe(1);
    expect(capped.stderr).toMatch(
      /caps log-probabilities at 20 .*--max-logprobs 30.*\[REMOTE_MAX_LOGPROBS\]\n$/,
    );
    await server!.close();
    await serve({ engine: 'tgi' });
    const tgi = await runCaptured(remoteArgs(join(root, `store-${run++}`)));
    expect(tgi.code).toBe(1);
    expect(tgi.stderr).toMatch(
      /is Text Generation Inference \(TGI\) 3\.2\.1, which cannot be captured from: .*\[REMOTE_ENGINE_UNSUPPORTED\]\n$/,
    );
    await server!.close();
    await serve({ tokenizeShift: 3 });
    const mismatch = await runCaptured(remoteArgs(join(root, `store-${run++}`)));
    expect(mismatch.code).toBe(1);
    expect(mismatch.stderr).toContain('[REMOTE_TOKENIZER_MISMATCH]');
  });

  it('usage errors (exit 2): both or neither of --model and --endpoint, --endpoint without its companions', async () => {
    await serve();
    const base = ['capture', '--data', data, '--out', join(root, 'never')];
    const both = await runCaptured([
      ...base,
      '--model',
      root,
      '--endpoint',
      server!.url,
      '--model-name',
      'm',
      '--tokenizer',
      root,
    ]);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('--model and --endpoint cannot be used together');
    const neither = await runCaptured(base);
    expect(neither.code).toBe(2);
    expect(neither.stderr).toContain('give --model DIR (a local model) or --endpoint URL');
    const noName = await runCaptured([...base, '--endpoint', server!.url, '--tokenizer', root]);
    expect(noName.code).toBe(2);
    expect(noName.stderr).toContain('--endpoint needs --model-name NAME');
    const noTokenizer = await runCaptured([...base, '--endpoint', server!.url, '--model-name', 'm']);
    expect(noTokenizer.code).toBe(2);
    expect(noTokenizer.stderr).toContain('--endpoint needs --tokenizer DIR');
    const stray = await runCaptured([...base, '--model', root, '--tokenizer', root]);
    expect(stray.code).toBe(2);
    expect(stray.stderr).toContain('--tokenizer goes with --endpoint, not --model');
    const dialect = await runCaptured([...remoteArgs(join(root, 'never')), '--dialect', 'tgi']);
    expect(dialect.code).toBe(2);
    expect(server!.requests).toHaveLength(0);
  });
});
