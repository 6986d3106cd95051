import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '@fusechat/backend';
import { createModel, loadModel, saveModel } from '@fusechat/model';
import { loadTokenizer } from '@fusechat/tokenizer-alignment';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoTokenizerFiles } from '../demo/demo-assets.js';
import { LLAMA2_TOKENIZER, runCaptured, saveTinyLlama } from '../test-fixtures.js';

const QWEN3_TOKENIZER = join(demoTokenizerFiles('qwen3').tokenizerJson, '..');

// A plain template for the Mistral vocabulary, whose tokenizer_config.json has none.
const TEMPLATE = [
  "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}",
  "{{ 'User: ' + message['content'] + '\\n' }}{% elif message['role'] == 'assistant' %}",
  "{{ 'Assistant: ' + message['content'] + eos_token }}{% endif %}{% endfor %}",
].join('');

const CONVERSATIONS = [
  [
    'Continue the story: Call me Ishmael.',
    'Some years ago, never mind how long precisely, I thought I would sail.',
  ],
  ['Who is the captain?', 'Ahab, a grand, ungodly, god-like man.'],
  ['Describe the whale.', 'A hump like a snow hill! It is Moby Dick!'],
  ['Where does the voyage start?', 'Nantucket, and from there to the Pacific.'],
];

/** Mean response CE and top-k of one sequence in float64 from the full logits. */
function reference(rows: number[][], inputIds: number[], labelMask: number[], k: number) {
  let total = 0;
  let count = 0;
  const top: number[][] = [];
  for (let t = 0; t < inputIds.length; t++) {
    const row = rows[t]!;
    let max = Number.NEGATIVE_INFINITY;
    for (const value of row) max = Math.max(max, value);
    let sum = 0;
    for (const value of row) sum += Math.exp(value - max);
    const logZ = max + Math.log(sum);
    top.push(
      row
        .map((value, id) => [value, id] as const)
        .sort((a, b) => b[0] - a[0])
        .slice(0, k)
        .map(([, id]) => id),
    );
    if (t + 1 < inputIds.length && labelMask[t + 1] === 1) {
      total += logZ - row[inputIds[t + 1]!]!;
      count++;
    }
  }
  return { ce: total / count, top };
}

describe('fusechat capture, store, align', () => {
  let root: string;
  let pivotDir: string;
  let sourceDir: string;
  let data: string;
  let templateFile: string;
  const pivotStore = () => join(root, 'capture', 'pivot');
  const sourceStore = () => join(root, 'capture', 'qwen');
  const alignArgs = (out: string) => [
    'align',
    '--pivot',
    pivotStore(),
    '--source',
    sourceStore(),
    '--pivot-model',
    pivotDir,
    '--source-model',
    sourceDir,
    '--mapping',
    'statistics',
    '--out',
    out,
  ];
  const dumpRecords = async (dir: string) =>
    (await runCaptured(['store', 'dump', dir])).stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));

  beforeAll(async () => {
    await initBackend('cpu', { quiet: true });
    root = mkdtempSync(join(tmpdir(), 'fusechat-cli-capture-'));
    pivotDir = join(root, 'pivot');
    sourceDir = join(root, 'qwen');
    await saveTinyLlama(pivotDir, 3);
    const qwen = await loadTokenizer(QWEN3_TOKENIZER);
    const source = createModel(
      {
        modelType: 'qwen2',
        vocabSize: qwen.vocabSize,
        hiddenSize: 16,
        intermediateSize: 32,
        numHiddenLayers: 1,
        numAttentionHeads: 2,
        numKeyValueHeads: 1,
        tieWordEmbeddings: true,
        eosTokenId: qwen.specialTokens.eos ?? null,
        initializerRange: 0.2,
      },
      { seed: 5 },
    );
    await saveModel(source, sourceDir, { tokenizerDirectory: QWEN3_TOKENIZER });
    source.dispose();
    data = join(root, 'train.jsonl');
    writeFileSync(
      data,
      CONVERSATIONS.map(([user, assistant], index) =>
        JSON.stringify({
          id: `c${index}`,
          messages: [
            { role: 'user', content: user },
            { role: 'assistant', content: assistant },
          ],
        }),
      ).join('\n'),
    );
    templateFile = join(root, 'template.jinja');
    writeFileSync(templateFile, TEMPLATE);
  }, 120_000);

  afterAll(() => {
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('refuses a model without a chat template, naming --chat-template', async () => {
    const result = await runCaptured([
      'capture',
      '--model',
      pivotDir,
      '--data',
      data,
      '--out',
      join(root, 'none'),
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('--chat-template');
  });

  it('captures the top-k, CE and labels that a float64 reference computes from the full logits', async () => {
    const run = await runCaptured([
      'capture',
      '--model',
      pivotDir,
      '--data',
      data,
      '--out',
      pivotStore(),
      '--chat-template',
      templateFile,
      '--top-k',
      '5',
      '--backend',
      'cpu',
      '--json',
    ]);
    expect(run.stderr).not.toContain('unexpected');
    expect(run.code).toBe(0);
    const summary = JSON.parse(run.stdout);
    expect(summary).toMatchObject({ examples: 4, flagged: 0, alreadyComplete: false });

    const records = await dumpRecords(pivotStore());
    expect(records.map((record) => record.id)).toEqual(['c0', 'c1', 'c2', 'c3']);
    const tokenizer = await loadTokenizer(LLAMA2_TOKENIZER);
    const model = await loadModel(pivotDir);
    try {
      for (const [index, record] of records.entries()) {
        // Supervised tokens decode to the assistant reply plus the EOS that closes it.
        const supervised = record.input_ids.filter((_: number, t: number) => record.label_mask[t] === 1);
        expect(supervised.at(-1)).toBe(tokenizer.specialTokens.eos);
        expect(tokenizer.decode(supervised.slice(0, -1)).trim()).toBe(CONVERSATIONS[index]![1]);
        expect(record.input_ids[0]).toBe(tokenizer.specialTokens.bos);
        const [rows] = await model.logits([record.input_ids], undefined, { output: 'array' });
        const expected = reference(rows!, record.input_ids, record.label_mask, 5);
        expect(record.ce).toBeCloseTo(expected.ce, 3);
        // Ranks can swap between near-equal logits in float32: compare the best entry and the set.
        for (const [t, row] of record.topk_ids.entries()) {
          expect(row[0]).toBe(expected.top[t]![0]);
          expect(new Set(row)).toEqual(new Set(expected.top[t]));
        }
      }
    } finally {
      model.dispose();
    }

    const inspect = await runCaptured(['store', 'inspect', pivotStore(), '--json', '--backend', 'cpu']);
    expect(JSON.parse(inspect.stdout)).toMatchObject({ complete: true, examples: 4, k: 5, flaggedCount: 0 });
    const verify = await runCaptured(['store', 'verify', pivotStore()]);
    expect(verify.code).toBe(0);
  });

  it('says a complete store is complete, and refuses one made from other data', async () => {
    const again = await runCaptured([
      'capture',
      '--model',
      pivotDir,
      '--data',
      data,
      '--out',
      pivotStore(),
      '--chat-template',
      templateFile,
      '--top-k',
      '5',
    ]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('already complete');
    const other = join(root, 'other.jsonl');
    writeFileSync(other, `${readFileSync(data, 'utf8')}\n{"text": "one more line"}\n`);
    const mismatch = await runCaptured([
      'capture',
      '--model',
      pivotDir,
      '--data',
      other,
      '--out',
      pivotStore(),
      '--chat-template',
      templateFile,
      '--top-k',
      '5',
    ]);
    expect(mismatch.code).toBe(1);
    expect(mismatch.stderr).toMatch(/data/);
  });

  it('aligns a Qwen3-vocabulary source onto the pivot store; refuses swapped models', async () => {
    const capture = await runCaptured([
      'capture',
      '--model',
      sourceDir,
      '--data',
      data,
      '--out',
      sourceStore(),
      '--top-k',
      '5',
      '--backend',
      'cpu',
    ]);
    expect(capture.stderr).not.toContain('unexpected');
    expect(capture.code).toBe(0);
    const out = join(root, 'align', 'qwen');
    const swapped = await runCaptured([
      'align',
      '--pivot',
      pivotStore(),
      '--source',
      sourceStore(),
      '--pivot-model',
      sourceDir,
      '--source-model',
      pivotDir,
      '--out',
      out,
    ]);
    expect(swapped.code).toBe(1);
    expect(readdirSync(root)).not.toContain('align');

    const aligned = await runCaptured([...alignArgs(out), '--workers', '2', '--json']);
    expect(aligned.stderr).not.toContain('unexpected');
    expect(aligned.code).toBe(0);
    const summary = JSON.parse(aligned.stdout);
    expect(summary.examples).toBe(4);
    expect(summary.origins.mapped).toBeGreaterThan(0.3);
    expect(readdirSync(out)).toContain('vocabulary-map.json');

    const pivotRecords = await dumpRecords(pivotStore());
    const sourceRecords = await dumpRecords(sourceStore());
    const alignedRecords = await dumpRecords(out);
    for (const [index, record] of alignedRecords.entries()) {
      // Pivot positions and pivot ids, the source's CE.
      expect(record.input_ids).toEqual(pivotRecords[index].input_ids);
      expect(record.label_mask).toEqual(pivotRecords[index].label_mask);
      expect(record.ce).toBeCloseTo(sourceRecords[index].ce, 5);
      for (const row of record.topk_ids) for (const id of row) expect(id).toBeLessThan(32000);
    }
    const again = await runCaptured(alignArgs(out));
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('already complete');
    const inspect = JSON.parse((await runCaptured(['store', 'inspect', out, '--json'])).stdout);
    expect(inspect.aligned).toMatchObject({ mapping: 'statistics' });
    expect(inspect.aligned.pivotStore).toBe(
      JSON.parse((await runCaptured(['store', 'inspect', pivotStore(), '--json'])).stdout).contentHash,
    );
  });

  it('names file:line for malformed data, or skips and counts it with --skip-invalid', async () => {
    const bad = join(root, 'bad.jsonl');
    writeFileSync(
      bad,
      [
        readFileSync(data, 'utf8').split('\n')[0],
        '{"messages": [{"role": "wizard", "content": "hi"}]}',
        '{"messages": []}',
        '{"text": "broken',
        '{"input_ids": [1, 99999]}',
        readFileSync(data, 'utf8').split('\n')[1],
      ].join('\n'),
    );
    const strict = await runCaptured([
      'capture',
      '--model',
      pivotDir,
      '--data',
      bad,
      '--out',
      join(root, 'bad-store'),
      '--chat-template',
      templateFile,
    ]);
    expect(strict.code).toBe(1);
    expect(strict.stderr).toMatch(/bad\.jsonl:2: .*wizard/);
    const lenient = await runCaptured([
      'capture',
      '--model',
      pivotDir,
      '--data',
      bad,
      '--out',
      join(root, 'lenient-store'),
      '--chat-template',
      templateFile,
      '--skip-invalid',
      '--json',
      '--backend',
      'cpu',
    ]);
    expect(lenient.code).toBe(0);
    expect(JSON.parse(lenient.stdout)).toMatchObject({ examples: 2, invalid: 4 });
    for (const line of ['bad.jsonl:2', 'bad.jsonl:3', 'bad.jsonl:4', 'bad.jsonl:5'])
      expect(lenient.stderr).toContain(line);
  });

  it('records --template-variable in the store identity', async () => {
    const base = [
      'capture',
      '--model',
      pivotDir,
      '--data',
      data,
      '--chat-template',
      templateFile,
      '--top-k',
      '5',
      '--limit',
      '1',
    ];
    const out = join(root, 'with-variable');
    const first = await runCaptured([
      ...base,
      '--out',
      out,
      '--template-variable',
      'date_string=26 Jul 2024',
      '--json',
    ]);
    expect(first.code).toBe(0);
    const other = await runCaptured([
      ...base,
      '--out',
      out,
      '--template-variable',
      'date_string=27 Jul 2024',
    ]);
    expect(other.code).toBe(1);
    expect(other.stderr).toContain('templateVariables');
    const bad = await runCaptured([...base, '--out', out, '--template-variable', 'no-equals']);
    expect(bad.stderr).toContain('CLI_INVALID_TEMPLATE_VARIABLE');
  });

  it('an unwritable --out is a one-line error', async () => {
    const blocker = join(root, 'a-file');
    writeFileSync(blocker, 'not a directory');
    const result = await runCaptured([
      'capture',
      '--model',
      pivotDir,
      '--data',
      data,
      '--out',
      join(blocker, 'store'),
      '--chat-template',
      templateFile,
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^fusechat: [^\n]*a-file[^\n]*\n$/);
  });

  it('in a real process, align with two worker threads runs to completion and exits 0', async () => {
    const { fileURLToPath } = await import('node:url');
    const { runSourceChild } = await import('../../../../scripts/run-source-child.mjs');
    const repository = fileURLToPath(new URL('../../../..', import.meta.url));
    const out = join(root, 'align', 'qwen-child');
    const child = await runSourceChild(
      join(repository, 'packages', 'cli', 'src', 'bin.ts'),
      [...alignArgs(out), '--workers', '2', '--json'],
      { cwd: repository },
    );
    expect(child.stderr).not.toContain('unexpected');
    expect(child.code).toBe(0);
    expect(JSON.parse(child.stdout)).toMatchObject({ examples: 4, workers: 2 });
    const inspect = await runCaptured(['store', 'inspect', out, '--json']);
    expect(JSON.parse(inspect.stdout)).toMatchObject({ complete: true, examples: 4 });
  });

  it('store verify fails on a corrupted shard', async () => {
    const copy = join(root, 'corrupt');
    rmSync(copy, { recursive: true, force: true });
    const { cpSync } = await import('node:fs');
    cpSync(pivotStore(), copy, { recursive: true });
    const shard = readdirSync(copy).find((name) => name.endsWith('.bin'))!;
    const bytes = readFileSync(join(copy, shard));
    bytes[Math.floor(bytes.length / 2)]! ^= 0xff;
    writeFileSync(join(copy, shard), bytes);
    const verify = await runCaptured(['store', 'verify', copy]);
    expect(verify.code).toBe(1);
    expect(verify.stderr).toContain(shard);
  });
});
