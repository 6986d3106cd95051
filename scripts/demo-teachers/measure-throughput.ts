// Measures training tokens/s of candidate teacher configs (wasm): `node … measure-throughput.ts`.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '../../packages/backend/src/index.js';
import { loadDemoTokenizer } from '../../packages/cli/src/demo/demo-assets.js';
import { readDomainDocuments } from '../../packages/cli/src/demo/demo-domains.js';
import { createModel, type ModelConfigInput } from '../../packages/model/src/index.js';
import { createChatDataset, train } from '../../packages/training/src/index.js';

const backend = await initBackend(
  'wasm',
  process.env.THREADS ? { wasmThreads: Number(process.env.THREADS) } : {},
);
console.log('backend', backend.name, backend.threads);
const [llama2, qwen3] = await Promise.all([loadDemoTokenizer('mistral'), loadDemoTokenizer('qwen3')]);
const text = readDomainDocuments('moby-dick')
  .slice(0, 20)
  .map((chapter) => chapter.text)
  .join(' ');
const seqLength = Number(process.env.SEQ ?? 128);
const batchSize = Number(process.env.BATCH ?? 8);
const candidates: Record<string, [typeof llama2, ModelConfigInput]> = {
  'llama-h64-l2': [
    llama2,
    {
      modelType: 'llama',
      vocabSize: llama2.vocabSize,
      hiddenSize: 64,
      intermediateSize: 192,
      numHiddenLayers: 2,
      numAttentionHeads: 4,
      numKeyValueHeads: 2,
      tieWordEmbeddings: true,
      maxPositionEmbeddings: 512,
    },
  ],
  'mistral-h128-l4': [
    llama2,
    {
      modelType: 'mistral',
      vocabSize: llama2.vocabSize,
      hiddenSize: 128,
      intermediateSize: 384,
      numHiddenLayers: 4,
      numAttentionHeads: 4,
      numKeyValueHeads: 2,
      tieWordEmbeddings: true,
      maxPositionEmbeddings: 512,
    },
  ],
  'llama-h160-l4': [
    llama2,
    {
      modelType: 'llama',
      vocabSize: llama2.vocabSize,
      hiddenSize: 160,
      intermediateSize: 448,
      numHiddenLayers: 4,
      numAttentionHeads: 5,
      numKeyValueHeads: 5,
      tieWordEmbeddings: true,
      maxPositionEmbeddings: 512,
    },
  ],
  'qwen2-h48-l3': [
    qwen3,
    {
      modelType: 'qwen2',
      vocabSize: qwen3.vocabSize,
      hiddenSize: 48,
      intermediateSize: 192,
      numHiddenLayers: 3,
      numAttentionHeads: 4,
      numKeyValueHeads: 2,
      tieWordEmbeddings: true,
      maxPositionEmbeddings: 512,
    },
  ],
  'qwen2-h64-l3': [
    qwen3,
    {
      modelType: 'qwen2',
      vocabSize: qwen3.vocabSize,
      hiddenSize: 64,
      intermediateSize: 192,
      numHiddenLayers: 3,
      numAttentionHeads: 4,
      numKeyValueHeads: 2,
      tieWordEmbeddings: true,
      maxPositionEmbeddings: 512,
    },
  ],
};
const only = process.argv.slice(2);
const dir = await mkdtemp(join(tmpdir(), 'demo-throughput-'));
try {
  for (const [name, [tokenizer, config]] of Object.entries(candidates)) {
    if (only.length > 0 && !only.includes(name)) continue;
    const ids = tokenizer.encode(text, { addSpecialTokens: false });
    const lines: string[] = [];
    for (let i = 0; i + seqLength <= ids.length && lines.length < batchSize * 8; i += seqLength)
      lines.push(JSON.stringify({ input_ids: ids.slice(i, i + seqLength) }));
    const file = join(dir, `${name}.jsonl`);
    await writeFile(file, `${lines.join('\n')}\n`);
    const dataset = await createChatDataset({ dataFile: file, tokenizer, batchSize });
    const model = createModel(
      {
        ...config,
        bosTokenId: tokenizer.specialTokens.bos ?? null,
        eosTokenId: tokenizer.specialTokens.eos ?? null,
      },
      { seed: 1 },
    );
    const parameters = [...model.weights.values()].reduce((t, w) => t + w.size, 0);
    const result = await train({
      model,
      dataset,
      outputDir: join(dir, name),
      training: { learningRate: 1e-3, maxSteps: 6, loggingSteps: 1, saveSteps: 1000 },
      resume: 'never',
    });
    console.log(
      `${name}: ${(parameters / 1e6).toFixed(2)}M params, bf16 ${((parameters * 2) / 1e6).toFixed(1)} MB, ${Math.round(result.tokensPerSecond)} tok/s (batch ${batchSize}×${seqLength}), loss ${result.finalLoss?.toFixed(3)}`,
    );
    model.dispose();
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}
