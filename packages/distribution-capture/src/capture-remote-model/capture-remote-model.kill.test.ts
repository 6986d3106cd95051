// A real SIGKILL of a remote capture at several points, then a rerun against the same server: the
// store must come out byte-identical to an uninterrupted capture's (nothing lost, nothing twice).
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadTokenizer } from '@fusechat/tokenizer-alignment';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runSourceChild } from '../../../../scripts/run-source-child.mjs';
import { type FixtureServer, startFixtureServer } from '../remote-provider/testing/fixture-server.js';
import { QWEN3_TOKENIZER_DIR, writeChatData } from '../remote-provider/testing/remote-capture-fixtures.js';

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

function snapshot(dir: string): Record<string, string> {
  return Object.fromEntries(
    readdirSync(dir)
      .sort()
      .map((name) => [name, readFileSync(join(dir, name)).toString('base64')]),
  );
}

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
  const reference = join(root, 'reference');
  expect(await runChild(reference)).toContain('finished resumedFrom 0');
  const resumedFrom: number[] = [];
  for (const killAfter of [2, 7, 12, 17]) {
    const dir = join(root, `killed-${killAfter}`);
    const killed = await runChild(dir, killAfter);
    expect(killed).not.toContain('finished');
    const rerun = await runChild(dir);
    resumedFrom.push(Number(/finished resumedFrom (\d+)/.exec(rerun)![1]));
    expect(snapshot(dir)).toEqual(snapshot(reference));
  }
  expect(new Set(resumedFrom).size).toBeGreaterThan(2);
}, 300_000);
