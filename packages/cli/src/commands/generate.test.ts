import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '@fusechat/backend';
import type { TokenizerLike } from '@fusechat/core';
import { type CausalLM, createModel, loadModel, saveModel } from '@fusechat/model';
import { loadTokenizer } from '@fusechat/tokenizer-alignment';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoTokenizerFiles } from '../demo/demo-assets.js';
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

/** `fusechat generate --model DIR … --backend cpu`. */
function generateArgv(modelDir: string, ...args: string[]): string[] {
  return ['generate', '--model', modelDir, ...args, '--backend', 'cpu'];
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
    const tensorsBefore = tf.memory().numTensors;
    const { code, stdout, stderr } = await runCaptured(
      generateArgv(modelDir, '--prompt', PROMPT, '--max-new-tokens', '6', '--temperature', '0'),
    );
    expect(code).toBe(0);
    expect(stdout).toBe(`${continuation(tokenizer, prompt, expected)}\n`);
    expect(stdout.trim().length).toBeGreaterThan(0);
    expect(stderr).toMatch(/generated 6 tokens .*reached --max-new-tokens 6/);
    // The command frees its model, every step's logits and the KV cache.
    expect(tf.memory().numTensors).toBe(tensorsBefore);
  });

  it('--repetition-penalty and --no-repeat-ngram-size decode as the library does with those options, and change the output', async () => {
    const prompt = tokenizer.encode(PROMPT);
    const options = { maxNewTokens: 12, repetitionPenalty: 1.5, noRepeatNgramSize: 2, stopTokens: [] };
    const expected = (await model.generate(prompt, options)).tokens;
    const plain = (await model.generate(prompt, { ...options, repetitionPenalty: 1, noRepeatNgramSize: 0 }))
      .tokens;
    expect(expected).not.toEqual(plain);
    const stopAt = expected.indexOf(2);
    const shown = stopAt < 0 ? expected : expected.slice(0, stopAt);
    const { code, stdout } = await runCaptured(
      generateArgv(
        modelDir,
        ...['--prompt', PROMPT, '--max-new-tokens', '12'],
        ...['--repetition-penalty', '1.5', '--no-repeat-ngram-size', '2'],
      ),
    );
    expect(code).toBe(0);
    expect(stdout).toBe(`${continuation(tokenizer, prompt, shown)}\n`);
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
    const { code, stdout, stderr } = await runCaptured(
      generateArgv(eosDir, '--prompt', PROMPT, '--max-new-tokens', '6'),
    );
    expect(code).toBe(0);
    expect(stdout).toBe(`${continuation(tokenizer, prompt, greedy.slice(0, stopAt))}\n`);
    expect(stderr).toMatch(
      new RegExp(`generated ${stopAt + 1} tokens .*stopped at .* \\(end of sequence\\)`),
    );
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
    const badGeneration = join(root, 'bad-generation-config');
    cpSync(modelDir, badGeneration, { recursive: true });
    writeFileSync(join(badGeneration, 'generation_config.json'), '{"eos_token_id": [2, "x"]}');
    const cases: [string[], RegExp][] = [
      [['--model', badGeneration], /generation_config\.json: "eos_token_id" must be a token id/],
      [['--top-p', '0'], /--top-p: "0" is not in \(0, 1\]/],
      [['--top-p', '1.5'], /--top-p: "1.5" is not in \(0, 1\]/],
      [['--temperature', '-1'], /--temperature: "-1" is not a number ≥ 0/],
      [['--max-new-tokens', 'many'], /--max-new-tokens: "many" is not a non-negative integer/],
      [['--seed', '1.5'], /--seed: "1.5" is not an integer/],
      [['--top-k', '-1'], /--top-k: "-1" is not a non-negative integer/],
      [['--top-k', '2.5'], /--top-k: "2.5" is not a non-negative integer/],
      [['--min-new-tokens', 'few'], /--min-new-tokens: "few" is not a non-negative integer/],
      [['--repetition-penalty', '0'], /--repetition-penalty: "0" is not a number > 0/],
      [['--no-repeat-ngram-size', '1.5'], /--no-repeat-ngram-size: "1.5" is not a non-negative integer/],
      [['--chat'], /: .*model has no chat template .*--chat-template FILE/],
      [['--system', 'Be brief.'], /: .*model has no chat template/],
      [['--chat-template', join(root, 'missing.jinja')], /missing\.jinja/],
      [['--model', bare], /no-tokenizer has no tokenizer\.json/],
      [['--model', join(root, 'nowhere')], /nowhere: no such file or directory \(looked at .*nowhere\)/],
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

/** A tiny random Qwen2 with Qwen3's real 151k tokenizer and chat template (untied `lm_head`). */
async function saveTinyQwen(dir: string, options: { swapOutputRows?: [number, number] } = {}): Promise<void> {
  const model = createModel(
    {
      modelType: 'qwen2',
      vocabSize: QWEN3.vocabSize,
      hiddenSize: 16,
      intermediateSize: 32,
      numHiddenLayers: 2,
      numAttentionHeads: 2,
      numKeyValueHeads: 1,
      tieWordEmbeddings: false,
      maxPositionEmbeddings: 512,
      bosTokenId: null,
      eosTokenId: QWEN3.tokenToId('<|im_end|>')!,
      initializerRange: 0.2,
    },
    { seed: 5 },
  );
  try {
    if (options.swapOutputRows) {
      // Swapping two rows of lm_head swaps those tokens' logits at every step, nothing else:
      // greedy decoding then picks the second token exactly where it picked the first.
      const [a, b] = options.swapOutputRows;
      const head = model.namedTrainableVariables().get('lm_head.weight')!;
      const rows = head.arraySync() as number[][];
      [rows[a], rows[b]] = [rows[b]!, rows[a]!];
      head.assign(tf.tensor2d(rows));
    }
    await saveModel(model, dir, { tokenizerDirectory: QWEN3_DIRECTORY });
  } finally {
    model.dispose();
  }
}

const QWEN3_DIRECTORY = join(demoTokenizerFiles('qwen3').tokenizerJson, '..');
let QWEN3: TokenizerLike;

/** Greedy decoding without a KV cache, ending after the first of `stopTokens` (included). */
async function greedyUntil(
  model: CausalLM,
  prompt: readonly number[],
  steps: number,
  options: { stopTokens?: readonly number[]; minNewTokens?: number } = {},
): Promise<number[]> {
  const stop = new Set(options.stopTokens ?? []);
  const produced: number[] = [];
  while (produced.length < steps) {
    const [rows] = await model.logits([[...prompt, ...produced]], undefined, { output: 'array' });
    const last = rows![rows!.length - 1]!;
    let best = -1;
    for (let id = 0; id < last.length; id++) {
      if (produced.length < (options.minNewTokens ?? 0) && stop.has(id)) continue;
      if (best < 0 || last[id]! > last[best]!) best = id;
    }
    produced.push(best);
    if (stop.has(best)) break;
  }
  return produced;
}

describe('fusechat generate --chat', () => {
  let root: string;
  let modelDir: string;
  let model: CausalLM;
  const imEnd = () => QWEN3.tokenToId('<|im_end|>')!;
  const argv = (...args: string[]) => generateArgv(modelDir, ...args);
  // Qwen3's template, rendered by hand: what transformers' apply_chat_template(add_generation_prompt=True) gives.
  const RENDERED =
    '<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nCall me Ishmael.<|im_end|>\n<|im_start|>assistant\n';

  beforeAll(async () => {
    await initBackend('cpu', { quiet: true });
    root = mkdtempSync(join(tmpdir(), 'fusechat-cli-generate-chat-'));
    QWEN3 = await loadTokenizer(QWEN3_DIRECTORY);
    modelDir = join(root, 'qwen');
    await saveTinyQwen(modelDir);
    model = await loadModel(modelDir);
  });
  afterAll(() => {
    model?.dispose();
    rmSync(root, { recursive: true, force: true });
  });

  it('renders [system, user] with the template and add_generation_prompt, and prints the greedy reply', async () => {
    const prompt = QWEN3.encode(RENDERED, { addSpecialTokens: false });
    const expected = await greedyUntil(model, prompt, 6, { stopTokens: [imEnd()] });
    expect(expected).toHaveLength(6);
    const { code, stdout, stderr } = await runCaptured(
      argv('--chat', '--system', 'Be brief.', '--prompt', PROMPT, '--max-new-tokens', '6', '--print-prompt'),
    );
    expect(code).toBe(0);
    expect(stderr).toContain(`prompt (${prompt.length} tokens): ${JSON.stringify(RENDERED)}\n`);
    expect(stdout).toBe(`${continuation(QWEN3, prompt, expected)}\n`);
    expect(stdout.trim().length).toBeGreaterThan(0);
    // --system implies --chat; without it, no system turn is rendered.
    const implied = await runCaptured(
      argv('--system', 'Be brief.', '--prompt', PROMPT, '--max-new-tokens', '6'),
    );
    expect(implied.stdout).toBe(stdout);
    const userOnly = await runCaptured(
      argv('--chat', '--prompt', PROMPT, '--max-new-tokens', '1', '--print-prompt'),
    );
    expect(userOnly.stderr).toContain(
      JSON.stringify('<|im_start|>user\nCall me Ishmael.<|im_end|>\n<|im_start|>assistant\n'),
    );
  });

  it('--top-k 1 is greedy at any temperature and seed', async () => {
    const greedy = await runCaptured(argv('--chat', '--prompt', PROMPT, '--max-new-tokens', '6'));
    expect(greedy.code).toBe(0);
    for (const seed of ['1', '2']) {
      const sampled = await runCaptured(
        argv(
          '--chat',
          '--prompt',
          PROMPT,
          '--max-new-tokens',
          '6',
          '--temperature',
          '1.7',
          '--top-k',
          '1',
          '--seed',
          seed,
        ),
      );
      expect(sampled.stdout).toBe(greedy.stdout);
    }
    // The same sampling without the top-k limit differs (so the equality above is top-k's doing).
    const unlimited = await runCaptured(
      argv('--chat', '--prompt', PROMPT, '--max-new-tokens', '6', '--temperature', '1.7', '--seed', '1'),
    );
    expect(unlimited.stdout).not.toBe(greedy.stdout);
  });

  it("stops at the template's end-of-turn token, found in the template (not the eos), and does not print it", async () => {
    // A template that closes every turn with <|endoftext|> (Qwen's pad token, not an eos anywhere).
    const templateFile = join(root, 'endoftext.jinja');
    writeFileSync(
      templateFile,
      "{% for m in messages %}{{ '<|im_start|>' + m.role + '\\n' + m.content + '<|endoftext|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}",
    );
    const endOfText = QWEN3.tokenToId('<|endoftext|>')!;
    const rendered = `<|im_start|>user\n${PROMPT}<|endoftext|>\n<|im_start|>assistant\n`;
    const prompt = QWEN3.encode(rendered, { addSpecialTokens: false });
    const greedy = await greedyUntil(model, prompt, 8);
    // The first step (≥ 1) whose greedy token is new: the variant picks <|endoftext|> there.
    const stopAt = greedy.findIndex((token, index) => index >= 1 && !greedy.slice(0, index).includes(token));
    expect(stopAt).toBeGreaterThanOrEqual(1);
    const variantDir = join(root, 'qwen-end-of-turn');
    await saveTinyQwen(variantDir, { swapOutputRows: [greedy[stopAt]!, endOfText] });
    const variant = await loadModel(variantDir);
    try {
      const expected = await greedyUntil(variant, prompt, 8, { stopTokens: [imEnd(), endOfText] });
      expect(expected).toEqual([...greedy.slice(0, stopAt), endOfText]);
      const { code, stdout, stderr } = await runCaptured([
        'generate',
        '--model',
        variantDir,
        '--chat-template',
        templateFile,
        '--prompt',
        PROMPT,
        '--max-new-tokens',
        '8',
        '--backend',
        'cpu',
      ]);
      expect(code).toBe(0);
      expect(stdout).toBe(`${continuation(QWEN3, prompt, expected.slice(0, -1))}\n`);
      expect(stderr).toMatch(
        new RegExp(`generated ${stopAt + 1} tokens .*stopped at <\\|endoftext\\|> \\(end of turn\\)`),
      );
      // As plain text the same model does not stop there: <|endoftext|> is no eos.
      const plain = await runCaptured([
        'generate',
        '--model',
        variantDir,
        '--prompt',
        rendered,
        '--max-new-tokens',
        '6',
        '--backend',
        'cpu',
      ]);
      expect(plain.stderr).toMatch(/generated 6 tokens .*reached --max-new-tokens 6/);
    } finally {
      variant.dispose();
    }
  });

  it('says why it printed nothing when the first token is a stop token; --min-new-tokens keeps stop tokens out', async () => {
    const prompt = QWEN3.encode(PROMPT);
    const greedy = await greedyUntil(model, prompt, 1);
    const variantDir = join(root, 'qwen-ends-at-once');
    await saveTinyQwen(variantDir, { swapOutputRows: [greedy[0]!, imEnd()] });
    const variant = await loadModel(variantDir);
    try {
      expect(await greedyUntil(variant, prompt, 4, { stopTokens: [imEnd()] })).toEqual([imEnd()]);
      const run = (...args: string[]) =>
        runCaptured(['generate', '--model', variantDir, '--prompt', PROMPT, ...args, '--backend', 'cpu']);
      const empty = await run('--max-new-tokens', '8');
      expect(empty.code).toBe(0);
      expect(empty.stdout).toBe('\n');
      expect(empty.stderr).toMatch(
        /fusechat: warn: the model chose the stop token <\|im_end\|> \(id \d+\) first, so there is nothing to print; --min-new-tokens N/,
      );
      const expected = await greedyUntil(variant, prompt, 8, { stopTokens: [imEnd()], minNewTokens: 3 });
      expect(expected.slice(0, 3)).not.toContain(imEnd());
      const kept = await run('--max-new-tokens', '8', '--min-new-tokens', '3');
      expect(kept.code).toBe(0);
      const printed = expected[expected.length - 1] === imEnd() ? expected.slice(0, -1) : expected;
      expect(kept.stdout).toBe(`${continuation(QWEN3, prompt, printed)}\n`);
      expect(kept.stderr).not.toMatch(/nothing to print/);
    } finally {
      variant.dispose();
    }
  });
});
