// A real SIGKILL of a remote capture at several points, then a rerun against the same server: the
// store must come out byte-identical to an uninterrupted capture's (nothing lost, nothing twice).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadTokenizer } from '@fusechat/tokenizer-alignment';
import { afterAll, beforeAll, it } from 'vitest';
import { runSourceChild } from '../../../../scripts/run-source-child.mjs';
import { type FixtureServer, startFixtureServer } from '../remote-provider/testing/fixture-server.js';
import { QWEN3_TOKENIZER_DIR, writeChatData } from '../remote-provider/testing/remote-capture-fixtures.js';
import { expectKillResumeIdentical } from '../testing/kill-resume.js';

const here = dirname(fileURLToPath(import.meta.url));
const packageDir = join(here, '..', '..');
const child = join(here, '..', 'remote-provider', 'testing', 'remote-capture-child.ts');
const root = mkdtempSync(join(tmpdir(), 'fusechat-capture-remote-kill-'));
const data = join(root, 'train.jsonl');
let server: FixtureServer;
beforeAll(async () => {
  writeChatData(data, 20);
  server = await startFixtureServer({
    engine: 'vllm',
    tokenizer: await loadTokenizer(QWEN3_TOKENIZER_DIR),
    modelName: 'fixture/qwen',
  });
});
afterAll(async () => {
  await server.close();
  rmSync(root, { recursive: true, force: true });
});

async function runChild(dir: string, killAfter?: number): Promise<string> {
  const result = await runSourceChild(child, [server.url, data, dir, killAfter === undefined ? '0' : '60'], {
    cwd: packageDir,
    killWhen: (stdout) =>
      killAfter !== undefined &&
      [...stdout.matchAll(/completed (\d+)/g)].some((match) => Number(match[1]) >= killAfter),
  });
  if (killAfter === undefined && result.code !== 0)
    throw new Error(`remote capture child failed (${result.code}): ${result.stderr}`);
  return result.stdout;
}

it('SIGKILL of a remote capture at several points, then rerun: byte-identical to an uninterrupted capture', async () => {
  await expectKillResumeIdentical({ root, killPoints: [2, 7, 12, 17], run: runChild });
}, 300_000);
