import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '@fusechat/backend';
import type { TokenizerLike } from '@fusechat/core';
import { type CausalLM, createModel, loadModel, saveModel } from '@fusechat/model';
import { loadTokenizer } from '@fusechat/tokenizer-alignment';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoTokenizerFiles } from '../demo/demo-assets.js';
import { createProgram } from '../program.js';
import { runCaptured, setUpTinyLlama, type TinyLlamaFixture, tearDownTinyLlama } from '../test-fixtures.js';

/** Mean next-token CE in float64 from the model's logits, one unpadded example at a time. */
async function referenceLoss(
  model: CausalLM,
  examples: readonly { inputIds: number[]; labels?: number[] }[],
): Promise<{ loss: number; tokens: number }> {
  let total = 0;
  let tokens = 0;
  for (const { inputIds, labels = inputIds } of examples) {
    const [rows] = await model.logits([inputIds], undefined, { output: 'array' });
    for (let t = 1; t < inputIds.length; t++) {
      if (labels[t] === -100) continue;
      const row = rows![t - 1]!;
      let max = Number.NEGATIVE_INFINITY;
      for (const value of row) max = Math.max(max, value);
      let sum = 0;
      for (const value of row) sum += Math.exp(value - max);
      total += max + Math.log(sum) - row[labels[t]!]!;
      tokens++;
    }
  }
  return { loss: total / tokens, tokens };
}

describe('fusechat eval', () => {
  let root: string;
  let modelDir: string;
  let model: CausalLM;
  let tokenizer: TokenizerLike;
  const data = (name: string, lines: readonly unknown[]): string => {
    const path = join(root, name);
    writeFileSync(
      path,
      `${lines.map((line) => (typeof line === 'string' ? line : JSON.stringify(line))).join('\n')}\n`,
    );
    return path;
  };

  let fixture: TinyLlamaFixture | undefined;

  beforeAll(async () => {
    await initBackend('cpu', { quiet: true });
    fixture = await setUpTinyLlama('eval', 7);
    ({ root, modelDir, model, tokenizer } = fixture);
  });
  afterAll(() => tearDownTinyLlama(fixture));

  it('prints the mean next-token CE of text lines, equal to a float64 computation from the logits', async () => {
    const texts = ['Call me Ishmael. Some years ago, never mind how long precisely.', 'The whale!'];
    const path = data('text.jsonl', [{ text: texts[0] }, '', { text: texts[1] }]);
    const { code, stdout, stderr } = await runCaptured([
      'eval',
      '--model',
      modelDir,
      '--data',
      path,
      '--batch-size',
      '2',
      '--backend',
      'cpu',
    ]);
    expect(stderr).not.toMatch(/error/);
    expect(code).toBe(0);
    const report = JSON.parse(stdout);
    expect(Object.keys(report)).toEqual(['loss', 'perplexity', 'tokens', 'examples']);
    const expected = await referenceLoss(
      model,
      texts.map((text) => ({ inputIds: tokenizer.encode(text) })),
    );
    expect(report.examples).toBe(2);
    expect(report.tokens).toBe(expected.tokens);
    expect(Math.abs(report.loss - expected.loss) / expected.loss).toBeLessThan(1e-5);
    expect(report.perplexity).toBeCloseTo(Math.exp(report.loss), 6);
    expect(stderr).toMatch(/eval: 2\/2 examples/);
  });

  it('scores pre-tokenised lines only where labels are not −100, whatever the batch size', async () => {
    const examples = [
      {
        inputIds: [1, 450, 3186, 338, 263, 1243, 29889, 2],
        labels: [-100, -100, -100, 338, 263, 1243, -100, 2],
      },
      { inputIds: [1, 15043, 3186] },
      { inputIds: [1, 306, 626, 263, 10541], labels: [-100, 306, -100, -100, 10541] },
    ];
    const path = data(
      'tokens.jsonl',
      examples.map(({ inputIds, labels }) =>
        labels ? { input_ids: inputIds, labels } : { input_ids: inputIds },
      ),
    );
    const expected = await referenceLoss(model, examples);
    expect(expected.tokens).toBe(4 + 2 + 2);
    const unmasked = await referenceLoss(
      model,
      examples.map(({ inputIds }) => ({ inputIds })),
    );
    expect(Math.abs(unmasked.loss - expected.loss)).toBeGreaterThan(1e-3);
    for (const batchSize of ['1', '3']) {
      const { code, stdout } = await runCaptured([
        'eval',
        '--model',
        modelDir,
        '--data',
        path,
        '--batch-size',
        batchSize,
        '--backend',
        'cpu',
      ]);
      expect(code).toBe(0);
      const report = JSON.parse(stdout);
      expect(report.tokens).toBe(expected.tokens);
      expect(report.examples).toBe(3);
      expect(Math.abs(report.loss - expected.loss) / expected.loss).toBeLessThan(1e-5);
    }
  });

  it('truncates to --max-length with a warning, and needs no tokenizer for pre-tokenised data', async () => {
    const bare = join(root, 'bare-model');
    mkdirSync(bare);
    cpSync(join(modelDir, 'config.json'), join(bare, 'config.json'));
    cpSync(join(modelDir, 'model.safetensors'), join(bare, 'model.safetensors'));
    const inputIds = [1, 450, 3186, 338, 263, 1243, 29889, 2];
    const path = data('long.jsonl', [{ input_ids: inputIds }]);
    const { code, stdout, stderr } = await runCaptured([
      'eval',
      '--model',
      bare,
      '--data',
      path,
      '--max-length',
      '4',
      '--backend',
      'cpu',
    ]);
    expect(code).toBe(0);
    expect(stderr).toMatch(/1 of 1 examples truncated to 4 tokens/);
    const report = JSON.parse(stdout);
    const expected = await referenceLoss(model, [{ inputIds: inputIds.slice(0, 4) }]);
    expect(report.tokens).toBe(3);
    expect(Math.abs(report.loss - expected.loss) / expected.loss).toBeLessThan(1e-5);
  });

  it("scores chat lines on the assistant tokens of the model's own template, as capture renders them", async () => {
    const templated = join(root, 'templated-chat');
    cpSync(modelDir, templated, { recursive: true });
    const template = "{% for m in messages %}{{ m['role'] + ': ' + m['content'] + '\\n' }}{% endfor %}";
    writeFileSync(
      join(templated, 'tokenizer_config.json'),
      JSON.stringify({ bos_token: '<s>', eos_token: '</s>', chat_template: template }),
    );
    const conversation = {
      messages: [
        { role: 'user', content: 'Call me Ishmael.' },
        { role: 'assistant', content: 'Some years ago, never mind how long.' },
      ],
    };
    const { tokenizeExample } = await import('@fusechat/chat-data');
    const expected = tokenizeExample(
      { kind: 'chat', id: 'x', where: 'x', messages: conversation.messages as never },
      { tokenizer, chatTemplate: template },
    );
    const inputIds = Array.from(expected.inputIds);
    const labels = inputIds.map((id, t) => (expected.labelMask[t] === 1 ? id : -100));
    expect(labels.filter((label) => label !== -100).length).toBeGreaterThan(3);
    expect(labels.slice(0, 4).every((label) => label === -100)).toBe(true);
    const reference = await referenceLoss(model, [{ inputIds, labels }]);
    const chat = await runCaptured([
      'eval',
      '--model',
      templated,
      '--data',
      data('chat-ok.jsonl', [conversation]),
      '--backend',
      'cpu',
    ]);
    expect(chat.code).toBe(0);
    const report = JSON.parse(chat.stdout);
    expect(report.tokens).toBe(reference.tokens);
    expect(Math.abs(report.loss - reference.loss) / reference.loss).toBeLessThan(1e-5);
  });

  it('exits 1 (2 for a refused option value) with a one-line reason on bad input', async () => {
    const bare = join(root, 'no-tokenizer');
    mkdirSync(bare);
    cpSync(join(modelDir, 'config.json'), join(bare, 'config.json'));
    cpSync(join(modelDir, 'model.safetensors'), join(bare, 'model.safetensors'));
    const templated = join(root, 'templated');
    cpSync(modelDir, templated, { recursive: true });
    writeFileSync(
      join(templated, 'tokenizer_config.json'),
      JSON.stringify({
        bos_token: '<s>',
        eos_token: '</s>',
        chat_template: '{% for m in messages %}{{ m.content }}{% endfor %}',
      }),
    );
    const chat = {
      messages: [
        { role: 'user', content: 'Hi' },
        { role: 'assistant', content: 'Hello there' },
      ],
    };
    const cases: [string[], RegExp][] = [
      [
        ['--data', data('bad-json.jsonl', [{ text: 'fine' }, '{"text": "broken'])],
        /bad-json\.jsonl:2: not valid JSON/,
      ],
      [['--data', data('array.jsonl', ['[1, 2]'])], /array\.jsonl:1: expected a JSON object, got an array/],
      [
        ['--data', data('keys.jsonl', [{ prompt: 'x' }])],
        /keys\.jsonl:1: expected \{"messages": \[…\]}.*got keys "prompt"/,
      ],
      [
        ['--data', data('vocab.jsonl', [{ input_ids: [1, 2] }, { input_ids: [1, 32000] }])],
        /vocab\.jsonl:2: input_ids has token id 32000 at position 1, outside the model's vocabulary \(vocab_size 32000/,
      ],
      [
        ['--data', data('label-vocab.jsonl', [{ input_ids: [1, 2], labels: [-100, 40000] }])],
        /label-vocab\.jsonl:1: labels\[1\] = 40000 but input_ids\[1\] = 2/,
      ],
      [
        ['--data', data('negative.jsonl', [{ input_ids: [1, 2], labels: [-1, 2] }])],
        /negative\.jsonl:1: labels\[0\] = -1 is not a token id/,
      ],
      [
        ['--data', data('lengths.jsonl', [{ input_ids: [1, 2, 3], labels: [1, 2] }])],
        /lengths\.jsonl:1: "labels" has 2 entries but "input_ids" has 3/,
      ],
      [
        [
          '--data',
          data('masked.jsonl', [{ input_ids: [1, 2, 3], labels: [-100, -100, -100] }, { input_ids: [1] }]),
        ],
        /none of its 2 examples has a supervised token/,
      ],
      [['--data', data('empty.jsonl', [''])], /empty\.jsonl holds no examples/],
      [
        ['--data', join(root, 'missing.jsonl')],
        /missing\.jsonl.*(cannot be read|does not exist)|cannot read .*missing\.jsonl/,
      ],
      [
        ['--data', data('chat.jsonl', [chat])],
        /chat\.jsonl:1: the tokenizer has no chat template .*--chat-template FILE/,
      ],
      [
        [
          '--model',
          templated,
          '--data',
          data('sharegpt.jsonl', [{ conversations: [{ from: 'human', value: 'Hi' }] }]),
        ],
        /sharegpt\.jsonl:1: the conversation has no assistant turn/,
      ],
      [
        ['--model', bare, '--data', data('text.jsonl', [{ text: 'hello' }])],
        /text\.jsonl:1: a text example needs a tokenizer, but .* has no tokenizer\.json/,
      ],
      [
        ['--model', join(root, 'nowhere'), '--data', data('ok.jsonl', [{ input_ids: [1, 2] }])],
        /nowhere: no such file or directory \(looked at .*nowhere\)/,
      ],
      [
        ['--data', data('ok.jsonl', [{ input_ids: [1, 2] }]), '--batch-size', '0'],
        /--batch-size: "0" is not a positive integer/,
      ],
      [
        ['--data', data('ok.jsonl', [{ input_ids: [1, 2] }]), '--max-length', '2.5'],
        /--max-length: "2.5" is not a positive integer/,
      ],
    ];
    const mismatches: string[] = [];
    for (const [args, message] of cases) {
      const argv = [
        'eval',
        ...(args.includes('--model') ? [] : ['--model', modelDir]),
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
      if (!message.test(stderr)) mismatches.push(`${message} ← ${stderr}`);
    }
    expect(mismatches).toEqual([]);
  });

  it('explains the data formats in --help', () => {
    const command = createProgram().commands.find((candidate) => candidate.name() === 'eval')!;
    let help = '';
    command.configureOutput({ writeOut: (text) => (help += text) });
    command.outputHelp();
    expect(help).toMatch(/--batch-size/);
    expect(help).toMatch(/--backend <name>/);
    expect(help).toMatch(/-100 = not scored/);
    expect(help).toMatch(/Chat lines .*chat template/s);
    expect(help).toMatch(/--chat-template/);
  });
});

/** ChatML as Qwen2.5 writes it, without the default system prompt. */
const CHATML =
  "{% for m in messages %}{{ '<|im_start|>' + m.role + '\\n' + m.content + '<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

describe('fusechat eval on chat data', () => {
  const qwenDirectory = join(demoTokenizerFiles('qwen3').tokenizerJson, '..');
  let root: string;
  let modelDir: string;
  let model: CausalLM;
  let qwen3: TokenizerLike;

  beforeAll(async () => {
    await initBackend('cpu', { quiet: true });
    root = mkdtempSync(join(tmpdir(), 'fusechat-cli-eval-chat-'));
    qwen3 = await loadTokenizer(qwenDirectory);
    modelDir = join(root, 'qwen');
    const created = createModel(
      {
        modelType: 'qwen2',
        vocabSize: qwen3.vocabSize,
        hiddenSize: 16,
        intermediateSize: 32,
        numHiddenLayers: 2,
        numAttentionHeads: 2,
        numKeyValueHeads: 1,
        tieWordEmbeddings: true,
        bosTokenId: null,
        eosTokenId: qwen3.tokenToId('<|im_end|>')!,
        initializerRange: 0.2,
      },
      { seed: 9 },
    );
    try {
      await saveModel(created, modelDir, { tokenizerDirectory: qwenDirectory });
    } finally {
      created.dispose();
    }
    model = await loadModel(modelDir);
  });
  afterAll(() => {
    model?.dispose();
    rmSync(root, { recursive: true, force: true });
  });

  /**
   * The ChatML rendering and its labels, computed here without chat-data: each assistant turn is
   * supervised from the token after `<|im_start|>assistant\n` through its `<|im_end|>`.
   */
  function chatmlExample(messages: readonly { role: string; content: string }[]): {
    inputIds: number[];
    labels: number[];
  } {
    const text = messages.map((m) => `<|im_start|>${m.role}\n${m.content}<|im_end|>\n`).join('');
    const inputIds = qwen3.encode(text, { addSpecialTokens: false });
    const imStart = qwen3.tokenToId('<|im_start|>')!;
    const imEnd = qwen3.tokenToId('<|im_end|>')!;
    const header = qwen3.encode('assistant\n', { addSpecialTokens: false });
    const labels = inputIds.map(() => -100);
    for (let t = 0; t < inputIds.length; t++) {
      if (inputIds[t] !== imStart || !header.every((id, i) => inputIds[t + 1 + i] === id)) continue;
      let i = t + 1 + header.length;
      for (; inputIds[i] !== imEnd; i++) labels[i] = inputIds[i]!;
      labels[i] = imEnd;
    }
    return { inputIds, labels };
  }

  it("scores assistant tokens and each turn's <|im_end|> (messages and ShareGPT lines), equal to a float64 CE over those positions", async () => {
    const conversations = [
      [
        { role: 'system', content: 'You are a whaler.' },
        { role: 'user', content: 'Call me Ishmael.' },
        { role: 'assistant', content: 'Some years ago, never mind how long precisely.' },
        { role: 'user', content: 'And then?' },
        { role: 'assistant', content: 'I thought I would sail about a little.' },
      ],
      [
        { role: 'user', content: 'The whale?' },
        { role: 'assistant', content: 'White, and very large.' },
      ],
    ];
    const lines = [
      { messages: conversations[0] },
      {
        conversations: conversations[1]!.map((m) => ({
          from: m.role === 'user' ? 'human' : 'gpt',
          value: m.content,
        })),
      },
    ];
    const path = join(root, 'chat.jsonl');
    writeFileSync(path, `${lines.map((line) => JSON.stringify(line)).join('\n')}\n`);
    const templateFile = join(root, 'chatml.jinja');
    writeFileSync(templateFile, CHATML);
    const examples = conversations.map(chatmlExample);
    const expected = await referenceLoss(model, examples);
    const assistantTokens = conversations
      .flat()
      .filter((m) => m.role === 'assistant')
      .reduce((sum, m) => sum + qwen3.encode(m.content, { addSpecialTokens: false }).length + 1, 0);
    expect(expected.tokens).toBe(assistantTokens);
    // Scoring every token instead would give another loss: the mask matters.
    const unmasked = await referenceLoss(
      model,
      examples.map(({ inputIds }) => ({ inputIds })),
    );
    expect(Math.abs(unmasked.loss - expected.loss)).toBeGreaterThan(1e-3);
    for (const batchSize of ['1', '2']) {
      const { code, stdout, stderr } = await runCaptured([
        'eval',
        '--model',
        modelDir,
        '--data',
        path,
        '--chat-template',
        templateFile,
        '--batch-size',
        batchSize,
        '--backend',
        'cpu',
      ]);
      expect({ code, stderr: stderr.match(/error.*/)?.[0] }).toEqual({ code: 0, stderr: undefined });
      const report = JSON.parse(stdout);
      expect(report.examples).toBe(2);
      expect(report.tokens).toBe(expected.tokens);
      expect(Math.abs(report.loss - expected.loss) / expected.loss).toBeLessThan(1e-5);
    }
  });

  it("uses the model's own template (Qwen3's) without --chat-template", async () => {
    const path = join(root, 'own-template.jsonl');
    const messages = [
      { role: 'user', content: 'Call me Ishmael.' },
      { role: 'assistant', content: 'Some years ago.' },
    ];
    writeFileSync(path, `${JSON.stringify({ messages })}\n`);
    const { code, stdout } = await runCaptured([
      'eval',
      '--model',
      modelDir,
      '--data',
      path,
      '--backend',
      'cpu',
    ]);
    expect(code).toBe(0);
    // Qwen3 renders the last turn as <think>\n\n</think>\n\n + content; the content and <|im_end|> are scored.
    expect(JSON.parse(stdout).tokens).toBe(
      qwen3.encode('Some years ago.', { addSpecialTokens: false }).length + 1,
    );
  });
});
