// `pnpm bench capture`: tokens/s of the local provider's capture (top-k + next-token log-probs,
// chunked lm_head) against the same model's plain forward pass (`model.logits`, full
// [batch, time, vocab] logits) over the same length-bucketed batches, in the same run, for a
// small Llama with a 32k vocabulary (varied lengths, and all-equal lengths: no padding) and a small
// Qwen2 with a 151,936-token vocabulary. Forward, capture and the whole captureDistributions into a
// temporary store alternate (F C S F C S …) and each keeps its best run, so load from other
// processes on a shared machine hits all alike.
//
//   node scripts/dev.mjs bench capture [--backends wasm,cpu] [--repeats 3] [--k 10] [--store 0]
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';

// Run through `pnpm bench`, which registers the source hooks for tfjs-core's ESM files.
const { initBackend } = await import('@fusechat/backend');
const { createModel } = await import('@fusechat/model');
const { createLocalProvider } = await import('../src/local-provider/create-local-provider.js');
const { planLengthBatches } = await import('../src/plan-length-batches.js');

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2)
  args.set(process.argv[i]!.replace(/^--/, ''), process.argv[i + 1]!);
const backends = (args.get('backends') ?? 'wasm').split(',') as ('wasm' | 'cpu')[];
const repeats = Number(args.get('repeats') ?? 3);
const k = Number(args.get('k') ?? 10);
const withStore = args.get('store') !== '0';

const cases = [
  {
    name: 'llama-32k',
    config: {
      modelType: 'llama',
      vocabSize: 32000,
      hiddenSize: 256,
      intermediateSize: 688,
      numHiddenLayers: 4,
      numAttentionHeads: 8,
      numKeyValueHeads: 4,
      maxPositionEmbeddings: 2048,
    },
    batchTokens: 2048,
    // 24 sequences of 40..400 tokens (≈ 5k tokens).
    lengths: Array.from({ length: 24 }, (_, i) => 40 + ((i * 149) % 361)),
  },
  {
    // No padding at all: the pure cost of top-k + log-softmax against the forward's logits.
    name: 'llama-32k-unpadded',
    config: {
      modelType: 'llama',
      vocabSize: 32000,
      hiddenSize: 256,
      intermediateSize: 688,
      numHiddenLayers: 4,
      numAttentionHeads: 8,
      numKeyValueHeads: 4,
      maxPositionEmbeddings: 2048,
    },
    batchTokens: 2048,
    lengths: Array.from({ length: 16 }, () => 256),
  },
  {
    name: 'qwen2-151k',
    config: {
      modelType: 'qwen2',
      vocabSize: 151936,
      hiddenSize: 256,
      intermediateSize: 688,
      numHiddenLayers: 4,
      numAttentionHeads: 8,
      numKeyValueHeads: 2,
      tieWordEmbeddings: true,
      maxPositionEmbeddings: 2048,
    },
    // Plain forward logits of 1024 positions take 1024 × 151936 × 4 B ≈ 620 MB.
    batchTokens: 1024,
    lengths: Array.from({ length: 12 }, (_, i) => 40 + ((i * 149) % 361)),
  },
] as const;

function seconds(): number {
  return performance.now() / 1000;
}

interface Row {
  backend: string;
  model: string;
  tokens: number;
  paddedTokens: number;
  forwardTokensPerSecond: number;
  captureTokensPerSecond: number;
  captureOverForward: number;
  storeTokensPerSecond?: number | undefined;
}

const rows: Row[] = [];
const loadBefore = loadavg()[0]!;
for (const backend of backends) {
  await initBackend(backend);
  for (const testCase of cases) {
    const model = createModel(testCase.config, { seed: 1 });
    const vocab = testCase.config.vocabSize;
    const sequences = testCase.lengths.map((length, s) =>
      Int32Array.from({ length }, (_, t) => (s * 7919 + t * 104729) % vocab),
    );
    const tokens = sequences.reduce((sum, sequence) => sum + sequence.length, 0);
    const batches = planLengthBatches(
      sequences.map((sequence) => sequence.length),
      { batchTokens: testCase.batchTokens },
    ).map((batch) => ({
      ids: batch.indices.map((index) => {
        const row = Array.from(sequences[index]!);
        while (row.length < batch.time) row.push(0);
        return row;
      }),
      mask: batch.indices.map((index) =>
        Array.from({ length: batch.time }, (_, t) => (t < sequences[index]!.length ? 1 : 0)),
      ),
    }));
    const paddedTokens = batches.reduce((sum, batch) => sum + batch.ids.length * batch.ids[0]!.length, 0);
    const provider = createLocalProvider(
      model,
      {
        vocabSize: vocab,
        specialTokens: {},
        spaceMarker: 'byte-level',
        hash: 'bench',
        encode: () => [],
        decode: () => '',
        idToToken: () => undefined,
        tokenToId: () => undefined,
      },
      { batchTokens: testCase.batchTokens },
    );

    const forward = async () => {
      for (const batch of batches) {
        // cpu and wasm run kernels eagerly: the logits exist when the call returns. No read-back
        // (dataSync would add a copy of [batch, time, vocab] floats that capture never makes).
        const logits = await model.logits(batch.ids, batch.mask);
        logits.dispose();
      }
    };
    const capture = async () => {
      await provider.topK(sequences, { k });
    };
    const { captureDistributions } = await import('../src/capture-distributions.js');
    const dir = mkdtempSync(join(tmpdir(), 'fusechat-capture-bench-'));
    let stores = 0;
    // The whole stage: provider + CE + records + store writes (Brotli blocks, fsync'd shards).
    const captureToStore = async () => {
      await captureDistributions({
        provider,
        examples: sequences.map((inputIds, i) => ({
          id: `e${i}`,
          inputIds,
          labelMask: new Uint8Array(inputIds.length).fill(1),
        })),
        out: join(dir, `store-${stores++}`),
        k,
        batchTokens: tokens,
        identity: {
          model: { name: testCase.name, configHash: provider.id },
          tokenizer: { hash: 'bench', vocabSize: vocab },
          data: { hash: 'bench' },
          chatTemplateHash: null,
          capture: { k, valueKind: 'logits' },
        },
      });
    };
    await capture(); // warm-up (kernels, wasm memory growth)
    await forward();
    let bestForward = Number.POSITIVE_INFINITY;
    let bestCapture = Number.POSITIVE_INFINITY;
    let bestStore = Number.POSITIVE_INFINITY;
    try {
      for (let r = 0; r < repeats; r++) {
        let start = seconds();
        await forward();
        bestForward = Math.min(bestForward, seconds() - start);
        start = seconds();
        await capture();
        bestCapture = Math.min(bestCapture, seconds() - start);
        if (withStore) {
          start = seconds();
          await captureToStore();
          bestStore = Math.min(bestStore, seconds() - start);
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const storeTokensPerSecond = withStore ? tokens / bestStore : undefined;
    rows.push({
      backend,
      model: testCase.name,
      tokens,
      paddedTokens,
      forwardTokensPerSecond: tokens / bestForward,
      captureTokensPerSecond: tokens / bestCapture,
      captureOverForward: bestCapture / bestForward,
      storeTokensPerSecond,
    });
    model.dispose();
  }
}

const load = { before: loadBefore, after: loadavg()[0]! };
console.log(
  `k = ${k}, best of ${repeats} alternating runs; 1-minute load average ${load.before.toFixed(2)} → ${load.after.toFixed(2)} on ${cpus().length} cores, Node ${process.version}`,
);
console.table(
  rows.map((row) => ({
    backend: row.backend,
    model: row.model,
    tokens: `${row.tokens} (${row.paddedTokens} padded)`,
    'forward tok/s': row.forwardTokensPerSecond.toFixed(0),
    'capture tok/s': row.captureTokensPerSecond.toFixed(0),
    'capture / forward time': `${row.captureOverForward.toFixed(3)}×`,
    'capture + store tok/s': row.storeTokensPerSecond?.toFixed(0) ?? '–',
  })),
);
const out = join(process.cwd(), 'bench-results');
mkdirSync(out, { recursive: true });
writeFileSync(
  join(out, 'capture.json'),
  `${JSON.stringify({ date: new Date().toISOString(), loadAverage: load, cores: cpus().length, k, rows }, null, 2)}\n`,
);
console.log(`wrote ${join('bench-results', 'capture.json')}`);
