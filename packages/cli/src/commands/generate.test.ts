import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { initBackend } from '@fusechat/backend';
import type { TokenizerLike } from '@fusechat/core';
import type { CausalLM } from '@fusechat/model';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCaptured, setUpTinyLlama, type TinyLlamaFixture, tearDownTinyLlama } from '../test-fixtures.js';

const PROMPT = 'Call me Ishmael.';

/** Greedy decoding by recomputing the whole sequence each step (no KV cache) and taking the argmax. */
async function greedyReference(model: CausalLM, prompt: readonly number[], steps: number): Promise<number[]> {
  const sequence = [...prompt];
  for (let step = 0; step < steps; step++) {
    const [rows] = await model.logits([sequence], undefined, { output: 'array' });
    const last = rows![rows!.length - 1]!;
    let best = 0;
    for (let id = 1; id < last.length; id++) if (last[id]! > last[best]!) best = id;
    sequence.push(best);
  }
  return sequence.slice(prompt.length);
}

function continuation(
  tokenizer: TokenizerLike,
  prompt: readonly number[],
  tokens: readonly number[],
): string {
  const decode = (ids: readonly number[]) => tokenizer.decode(ids, { skipSpecialTokens: true });
  return decode([...prompt, ...tokens]).slice(decode(prompt).length);
}

describe('fusechat generate', () => {
  let root: string;
  let modelDir: string;
  let model: CausalLM;
  let tokenizer: TokenizerLike;

  let fixture: TinyLlamaFixture | undefined;

  beforeAll(async () => {
    await initBackend('cpu', { quiet: true });
    fixture = await setUpTinyLlama('generate', 3);
    ({ root, modelDir, model, tokenizer } = fixture);
  });
  afterAll(() => tearDownTinyLlama(fixture));

  it('with temperature 0 prints the greedy argmax continuation, decoded', async () => {
    const prompt = tokenizer.encode(PROMPT);
    const expected = await greedyReference(model, prompt, 6);
    expect(expected).not.toContain(2);
    const { code, stdout, stderr } = await runCaptured([
      'generate',
      '--model',
      modelDir,
      '--prompt',
      PROMPT,
      '--max-new-tokens',
      '6',
      '--temperature',
      '0',
      '--backend',
      'cpu',
    ]);
    expect(code).toBe(0);
    expect(stdout).toBe(`${continuation(tokenizer, prompt, expected)}\n`);
    expect(stdout.trim().length).toBeGreaterThan(0);
    expect(stderr).toMatch(/generated 6 tokens .*reached --max-new-tokens 6/);
  });

  it('stops at the end-of-sequence token and does not print it', async () => {
    const prompt = tokenizer.encode(PROMPT);
    const greedy = await greedyReference(model, prompt, 6);
    // Make the third greedy token the model's EOS: generation must stop after two tokens.
    const stopAt = greedy.findIndex((token, index) => index >= 2 && !greedy.slice(0, index).includes(token));
    expect(stopAt).toBeGreaterThanOrEqual(2);
    const eosDir = join(root, 'eos-model');
    cpSync(modelDir, eosDir, { recursive: true });
    const config = JSON.parse(readFileSync(join(eosDir, 'config.json'), 'utf8'));
    writeFileSync(join(eosDir, 'config.json'), JSON.stringify({ ...config, eos_token_id: greedy[stopAt] }));
    const { code, stdout, stderr } = await runCaptured([
      'generate',
      '--model',
      eosDir,
      '--prompt',
      PROMPT,
      '--max-new-tokens',
      '6',
      '--backend',
      'cpu',
    ]);
    expect(code).toBe(0);
    expect(stdout).toBe(`${continuation(tokenizer, prompt, greedy.slice(0, stopAt))}\n`);
    expect(stderr).toMatch(new RegExp(`generated ${stopAt + 1} tokens .*stopped at end of sequence`));
  });

  it('samples reproducibly under a seed', async () => {
    const argv = (seed: string) => [
      'generate',
      '--model',
      modelDir,
      '--prompt',
      PROMPT,
      '--max-new-tokens',
      '8',
      '--temperature',
      '1.5',
      '--top-p',
      '0.95',
      '--seed',
      seed,
      '--backend',
      'cpu',
    ];
    const first = await runCaptured(argv('11'));
    const again = await runCaptured(argv('11'));
    expect(first.code).toBe(0);
    expect(again.stdout).toBe(first.stdout);
    const greedy = await runCaptured(argv('11').map((arg) => (arg === '1.5' ? '0' : arg)));
    // One at a time: the stdout spies of concurrent runs would interleave.
    const others: string[] = [];
    for (const seed of ['12']) others.push((await runCaptured(argv(seed))).stdout);
    expect(new Set([first.stdout, ...others, greedy.stdout]).size).toBeGreaterThan(1);
  });

  it('exits 1 (2 for a refused option value) with a one-line reason on bad input', async () => {
    const bare = join(root, 'no-tokenizer');
    mkdirSync(bare);
    cpSync(join(modelDir, 'config.json'), join(bare, 'config.json'));
    cpSync(join(modelDir, 'model.safetensors'), join(bare, 'model.safetensors'));
    const cases: [string[], RegExp][] = [
      [['--top-p', '0'], /--top-p: "0" is not in \(0, 1\]/],
      [['--top-p', '1.5'], /--top-p: "1.5" is not in \(0, 1\]/],
      [['--temperature', '-1'], /--temperature: "-1" is not a number ≥ 0/],
      [['--max-new-tokens', 'many'], /--max-new-tokens: "many" is not a non-negative integer/],
      [['--seed', '1.5'], /--seed: "1.5" is not an integer/],
      [['--model', bare], /no-tokenizer has no tokenizer\.json/],
      [['--model', join(root, 'nowhere')], /nowhere.*config\.json/],
    ];
    for (const [args, message] of cases) {
      const argv = [
        'generate',
        ...(args.includes('--model') ? [] : ['--model', modelDir]),
        '--prompt',
        PROMPT,
        ...args,
        '--backend',
        'cpu',
      ];
      const { code, stdout, stderr } = await runCaptured(argv);
      // A refused option value is a usage error (exit 2); a bad file or model is exit 1.
      const expected = /^--/.test(message.source) ? 2 : 1;
      expect({ argv, code }).toEqual({ argv, code: expected });
      expect(stdout).toBe('');
      expect(stderr).toMatch(/^fusechat: [^\n]*\n$/);
      expect(stderr).toMatch(message);
    }
  });
});
