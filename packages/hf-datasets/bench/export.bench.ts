// `npm run bench export`: throughput of `exportStoreToHfDataset` on realistic synthetic stores
// (distribution-store's bench generator: Zipf ids, Gumbel-like top-k logits, ~520-token chats,
// k = 10, a 32k vocabulary) — a pivot store (representation dataset) and an aligned store joined
// with its pivot (pairwise-fusion dataset, 1…k entries per row). Reports output MB/s, tokens/s,
// the time to only read the store (the decode share), bytes per token and peak RSS.
// Options: --examples N (default 2000, ≈ 1M tokens).
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createStoreWriter, openStore, type StoreIdentity } from '@fusechat/distribution-store';
import { createSyntheticSource } from '../../distribution-store/bench/synthetic.js';
import { exportStoreToHfDataset } from '../src/index.js';

const args = process.argv.slice(2);
const option = (name: string, fallback: number) => {
  const at = args.indexOf(`--${name}`);
  return at >= 0 ? Number(args[at + 1]) : fallback;
};
const exampleCount = option('examples', 2000);
const K = 10;
const VOCAB = 32_000;
const round = (x: number, digits = 1) => Number(x.toFixed(digits));

const identity = (aligned?: StoreIdentity['aligned']): StoreIdentity => ({
  model: { name: aligned ? 'synthetic-source' : 'synthetic-pivot', configHash: '0'.repeat(64) },
  tokenizer: { hash: '1'.repeat(64), vocabSize: VOCAB },
  data: { hash: '2'.repeat(64) },
  chatTemplateHash: null,
  capture: { k: K, valueKind: 'logits' },
  ...(aligned ? { aligned } : {}),
});

const root = mkdtempSync(join(tmpdir(), 'fusechat-bench-export-'));
try {
  const loadBefore = loadavg().map((x) => round(x, 2));
  const pivotSource = createSyntheticSource({ vocabSize: VOCAB, k: K, seed: 1 });
  const alignedSource = createSyntheticSource({ vocabSize: VOCAB, k: K, seed: 2, variableCounts: true });
  const pivotDir = join(root, 'pivot');
  const alignedDir = join(root, 'aligned');
  const pivotWriter = await createStoreWriter(pivotDir, {
    identity: identity(),
    k: K,
    nextTokenLogProbs: false,
  });
  const pivotRecords = [];
  for (let i = 0; i < exampleCount; i++) {
    const record = pivotSource.record(i);
    await pivotWriter.append(record, { cursor: i + 1 });
    pivotRecords.push({ id: record.id, inputIds: record.inputIds, labelMask: record.labelMask });
  }
  const pivotManifest = await pivotWriter.finish();
  const alignedWriter = await createStoreWriter(alignedDir, {
    identity: identity({
      pivotStore: pivotManifest.contentHash,
      sourceStore: '3'.repeat(64),
      vocabularyMapHash: '4'.repeat(64),
      mapping: 'min-edit-distance',
    }),
    k: K,
    nextTokenLogProbs: false,
  });
  for (let i = 0; i < exampleCount; i++) {
    const source = alignedSource.record(i);
    const pivot = pivotRecords[i]!;
    // The aligned record lives on the pivot's positions: its rows, the pivot's tokens.
    const length = pivot.inputIds.length;
    const rows = Math.min(length, source.topK.length);
    const ids = new Int32Array(length * K).fill(-1);
    const logits = new Float32Array(length * K).fill(Number.NEGATIVE_INFINITY);
    ids.set(source.topK.ids.subarray(0, rows * K));
    logits.set(source.topK.logits.subarray(0, rows * K));
    await alignedWriter.append(
      { ...pivot, topK: { length, k: K, ids, logits }, ce: source.ce },
      { cursor: i + 1 },
    );
  }
  await alignedWriter.finish();
  pivotRecords.length = 0;

  const tokens = pivotManifest.tokens;
  const storeBytes = pivotManifest.shards.reduce((sum, s) => sum + s.bytes + s.indexBytes, 0);
  console.log(
    `synthetic stores: ${exampleCount} examples, ${tokens} tokens, k = ${K}, vocab ${VOCAB}; pivot store ${round(storeBytes / 1e6)} MB (${round(storeBytes / tokens, 2)} B/token)`,
  );

  // Reading alone: what decoding the store costs (brotli + varint + fp16 deltas).
  const readStarted = performance.now();
  const store = await openStore(pivotDir);
  let readTokens = 0;
  for await (const record of store) readTokens += record.inputIds.length;
  await store.close();
  const readSeconds = (performance.now() - readStarted) / 1000;

  const results: Record<string, unknown>[] = [];
  for (const [name, run] of [
    ['pivot → representation', () => exportStoreToHfDataset(pivotDir, { out: join(root, 'out-pivot') })],
    [
      'aligned + pivot → pairwise-fusion',
      () => exportStoreToHfDataset(alignedDir, { pivot: pivotDir, out: join(root, 'out-pair') }),
    ],
  ] as const) {
    const started = performance.now();
    const summary = await run();
    const seconds = (performance.now() - started) / 1000;
    const line = {
      export: name,
      seconds: round(seconds, 2),
      outputMB: round(summary.bytes / 1e6),
      outputMBPerSecond: round(summary.bytes / 1e6 / seconds),
      tokensPerSecond: Math.round(summary.tokens / seconds),
      bytesPerToken: round(summary.bytes / summary.tokens),
      files: summary.files.length,
    };
    results.push(line);
    console.log(
      `${name.padEnd(34)} ${line.seconds} s, ${line.outputMB} MB → ${line.outputMBPerSecond} MB/s, ${line.tokensPerSecond} tokens/s, ${line.bytesPerToken} B/token`,
    );
  }
  console.log(
    `read only (pivot store)            ${round(readSeconds, 2)} s → ${Math.round(readTokens / readSeconds)} tokens/s`,
  );
  console.log(
    JSON.stringify({
      node: process.version,
      examples: exampleCount,
      tokens,
      readOnlyTokensPerSecond: Math.round(readTokens / readSeconds),
      results,
      peakRssMB: round(process.resourceUsage().maxRSS / 1024),
      loadBefore,
      loadAfter: loadavg().map((x) => round(x, 2)),
    }),
  );
} finally {
  rmSync(root, { recursive: true, force: true });
}
