import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initBackend } from '@fusechat/backend';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCaptured, saveTinyLlama } from '../test-fixtures.js';

const REPO = fileURLToPath(new URL('../../../../', import.meta.url));
const BIN = join(REPO, 'packages/cli/src/bin.ts');

/** Starts `fusechat serve` in a real child process; resolves with the URL it prints. */
function startServe(
  args: string[],
  env: Record<string, string> = {},
): {
  child: ChildProcess;
  url: Promise<string>;
  output: () => { stdout: string; stderr: string };
  exit: Promise<number | null>;
} {
  const child = spawn(
    process.execPath,
    [
      '--conditions=source',
      '--import',
      join(REPO, 'scripts/register-source-hooks.mjs'),
      '--import',
      'tsx',
      BIN,
      'serve',
      ...args,
    ],
    { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } },
  );
  let stdout = '';
  let stderr = '';
  child.stderr!.on('data', (chunk) => {
    stderr += chunk.toString();
  });
  const url = new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (chunk) => {
      stdout += chunk.toString();
      const match = /fusechat serve: (http:\/\/\S+) /.exec(stdout);
      if (match) resolve(match[1]!);
    });
    child.on('close', () => reject(new Error(`serve exited before listening: ${stderr}`)));
  });
  const exit = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { child, url, output: () => ({ stdout, stderr }), exit };
}

describe('fusechat serve', () => {
  let root: string;
  let modelDir: string;

  beforeAll(async () => {
    await initBackend('cpu', { quiet: true });
    root = mkdtempSync(join(tmpdir(), 'fusechat-cli-serve-'));
    modelDir = join(root, 'tiny-model');
    await saveTinyLlama(modelDir, 4);
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('prints one line with the URL, serves the vLLM API with the key from --api-key-env, and exits 0 on SIGTERM', async () => {
    const secret = 'key-that-must-not-be-printed';
    const server = startServe(
      [
        '--model',
        modelDir,
        '--port',
        '0',
        '--backend',
        'cpu',
        '--api-key-env',
        'SERVE_TEST_KEY',
        '--served-model-name',
        'tiny',
        '--max-model-len',
        '128',
      ],
      { SERVE_TEST_KEY: secret },
    );
    try {
      const url = await server.url;
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const unauthorised = await fetch(`${url}/v1/models`);
      expect(unauthorised.status).toBe(401);
      const models = (await (
        await fetch(`${url}/v1/models`, { headers: { authorization: `Bearer ${secret}` } })
      ).json()) as {
        data: { id: string; max_model_len: number }[];
      };
      expect(models.data[0]).toMatchObject({ id: 'tiny', max_model_len: 128 });
      const completion = await fetch(`${url}/v1/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${secret}` },
        body: JSON.stringify({ prompt: 'Call me', max_tokens: 1, prompt_logprobs: 2 }),
      });
      expect(completion.status).toBe(200);
      expect(
        ((await completion.json()) as { choices: { prompt_logprobs: unknown[] }[] }).choices[0]!
          .prompt_logprobs[0],
      ).toBeNull();
      server.child.kill('SIGTERM');
      expect(await server.exit).toBe(0);
      const { stdout, stderr } = server.output();
      expect(stdout.trim().split('\n')).toHaveLength(1);
      expect(stdout + stderr).not.toContain(secret);
    } finally {
      server.child.kill('SIGKILL');
    }
  }, 60_000);

  it('refuses an unset --api-key-env variable and bad numbers with one line and a code', async () => {
    delete process.env.SERVE_TEST_UNSET;
    const unset = await runCaptured([
      'serve',
      '--model',
      modelDir,
      '--api-key-env',
      'SERVE_TEST_UNSET',
      '--backend',
      'cpu',
    ]);
    expect(unset.code).toBe(1);
    expect(unset.stderr).toMatch(
      /the environment variable SERVE_TEST_UNSET is not set or empty\. \[CLI_API_KEY_ENV_UNSET\]/,
    );
    const port = await runCaptured(['serve', '--model', modelDir, '--port', '70000']);
    expect(port.code).toBe(2);
    expect(port.stderr).toMatch(/--port: "70000" is not a port/);
    const tooLong = await runCaptured([
      'serve',
      '--model',
      modelDir,
      '--max-model-len',
      '1000000',
      '--backend',
      'cpu',
    ]);
    expect(tooLong.code).toBe(2);
    expect(tooLong.stderr).toMatch(/exceeds the model's max_position_embeddings/);
  });
});
