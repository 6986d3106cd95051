// `pnpm bench store`: bytes per token of the distribution store at k = 10 for a 32k and a 151k
// vocabulary (every encoding and compressor, the quantized mode with its mean KL), write and read
// throughput, random-access latency and reader RSS while streaming, on realistic synthetic top-k rows
// (bench/synthetic.ts). Options: --examples N (default 1000), --experiments-only.
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { brotliCompressSync, constants, deflateRawSync } from 'node:zlib';
import type { CaptureRecord } from '@fusechat/core';
import {
  BitWriter,
  bitWidth,
  createStoreWriter,
  float16Bits,
  float16Key,
  openStore,
  type StoreCompression,
  type StoreIdentity,
  type ValueEncoding,
} from '@fusechat/distribution-store';
import { createSyntheticSource } from './synthetic.js';

const args = process.argv.slice(2);
const option = (name: string, fallback: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const exampleCount = option('examples', 1000);
const K = 10;
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
const now = () => performance.now();
const round = (x: number, digits = 2) => Number(x.toFixed(digits));

const identity = (vocabSize: number): StoreIdentity => ({
  model: { name: 'synthetic', configHash: '0'.repeat(64) },
  tokenizer: { hash: '1'.repeat(64), vocabSize },
  data: { hash: '2'.repeat(64) },
  chatTemplateHash: null,
  capture: { k: K, valueKind: 'logits' },
});

// ---- 1. Transform experiments on the raw streams of 32 examples (what the format choice rests on).
function experiments(vocabSize: number) {
  const source = createSyntheticSource({ vocabSize, k: K });
  const records = Array.from({ length: 32 }, (_, i) => source.record(10_000 + i));
  const tokens = records.reduce((sum, r) => sum + r.inputIds.length, 0);
  const brotli = (b: Uint8Array) =>
    brotliCompressSync(b, { params: { [constants.BROTLI_PARAM_QUALITY]: 5 } }).length;
  const deflate = (b: Uint8Array) => deflateRawSync(b, { level: 6 }).length;
  const varint = (values: ArrayLike<number>) => {
    const out: number[] = [];
    for (let i = 0; i < values.length; i++) {
      let v = values[i]!;
      while (v >= 128) {
        out.push((v & 127) | 128);
        v >>>= 7;
      }
      out.push(v);
    }
    return new Uint8Array(out);
  };
  const planes = (values: ArrayLike<number>, bytes: number) => {
    const out = new Uint8Array(values.length * bytes);
    for (let p = 0; p < bytes; p++)
      for (let i = 0; i < values.length; i++) out[p * values.length + i] = (values[i]! >>> (8 * p)) & 255;
    return out;
  };
  const interleaved = (values: ArrayLike<number>, bytes: number) => {
    const out = new Uint8Array(values.length * bytes);
    for (let i = 0; i < values.length; i++)
      for (let p = 0; p < bytes; p++) out[i * bytes + p] = (values[i]! >>> (8 * p)) & 255;
    return out;
  };
  const packed = (values: ArrayLike<number>, width: number) => {
    const writer = new BitWriter();
    writer.writeAll(values, width);
    return writer.finish();
  };
  const idBits = bitWidth(vocabSize);
  const ids: number[] = [];
  const inputTokens: number[] = [];
  const tokenSlots: number[] = [];
  const rawValues: number[] = [];
  const heads: number[] = [];
  const deltas: number[] = [];
  const fromHead: number[] = [];
  for (const r of records)
    for (let t = 0; t < r.inputIds.length; t++) {
      inputTokens.push(r.inputIds[t]!);
      let code = K + r.inputIds[t]!;
      if (t > 0)
        for (let s = 0; s < K; s++)
          if (r.topK.ids[(t - 1) * K + s] === r.inputIds[t]) {
            code = s;
            break;
          }
      tokenSlots.push(code);
      let previous = 0;
      for (let s = 0; s < K; s++) {
        ids.push(r.topK.ids[t * K + s]!);
        const bits = float16Bits(r.topK.logits[t * K + s]!);
        rawValues.push(bits);
        const key = float16Key(bits);
        if (s === 0) heads.push(key);
        else {
          deltas.push((previous - key) & 0xffff);
          fromHead.push(heads.at(-1)! - key);
        }
        previous = key;
      }
    }
  const rows: Record<string, unknown>[] = [];
  const report = (stream: string, transform: string, bytes: Uint8Array) =>
    rows.push({
      vocabSize,
      stream,
      transform,
      raw: round(bytes.length / tokens),
      deflate: round(deflate(bytes) / tokens),
      brotli: round(brotli(bytes) / tokens),
    });
  const wide = Math.ceil(idBits / 8);
  report('top-k ids', `bit-packed ${idBits} bits`, packed(ids, idBits));
  report('top-k ids', `${wide}-byte little-endian`, interleaved(ids, wide));
  report('top-k ids', `${wide}-byte planes`, planes(ids, wide));
  report('top-k ids', 'LEB128 varint  ← chosen', varint(ids));
  report('tokens', `bit-packed ${idBits} bits`, packed(inputTokens, idBits));
  report('tokens', 'LEB128 varint', varint(inputTokens));
  report('tokens', 'slot in previous row, else k + id, varint  ← chosen', varint(tokenSlots));
  report('values', 'fp16 little-endian', interleaved(rawValues, 2));
  report('values', 'fp16 byte planes', planes(rawValues, 2));
  report('values', 'order-preserving key: head + gap from head, varint', varint([...heads, ...fromHead]));
  report('values', 'order-preserving key: head + consecutive deltas, varint', varint([...heads, ...deltas]));
  report(
    'values',
    'order-preserving key: head + consecutive deltas, byte planes  ← chosen',
    planes([...heads, ...deltas], 2),
  );
  return rows;
}

// ---- 2. The store itself.
function kl(exact: Float32Array, approx: Float32Array, k: number, rows: number): number {
  let total = 0;
  for (let t = 0; t < rows; t++) {
    let maxP = Number.NEGATIVE_INFINITY;
    let maxQ = Number.NEGATIVE_INFINITY;
    for (let s = 0; s < k; s++) {
      maxP = Math.max(maxP, exact[t * k + s]!);
      maxQ = Math.max(maxQ, approx[t * k + s]!);
    }
    let sumP = 0;
    let sumQ = 0;
    for (let s = 0; s < k; s++) {
      sumP += Math.exp(exact[t * k + s]! - maxP);
      sumQ += Math.exp(approx[t * k + s]! - maxQ);
    }
    const logZp = maxP + Math.log(sumP);
    const logZq = maxQ + Math.log(sumQ);
    for (let s = 0; s < k; s++) {
      const logP = exact[t * k + s]! - logZp;
      total += Math.exp(logP) * (logP - (approx[t * k + s]! - logZq));
    }
  }
  return total;
}

async function storeBench(vocabSize: number, dir: string) {
  const source = createSyntheticSource({ vocabSize, k: K, nextTokenLogProbs: true });
  const generateStart = now();
  const records: CaptureRecord[] = Array.from({ length: exampleCount }, (_, i) => source.record(i));
  const generateMs = now() - generateStart;
  const tokens = records.reduce((sum, r) => sum + r.inputIds.length, 0);
  // What the records weigh in memory (int32 ids + float32 logits + mask + tokens): the "MB/s" base.
  const recordBytes = records.reduce((sum, r) => sum + r.inputIds.length * (4 + 1 + K * 8), 0);
  const configurations: {
    name: string;
    compression: StoreCompression;
    valueEncoding: ValueEncoding;
    next: boolean;
    blockTargetBytes?: number;
  }[] = [
    { name: 'exact, none (bit-packed)', compression: 'none', valueEncoding: 'fp16', next: false },
    { name: 'exact, deflate', compression: 'deflate', valueEncoding: 'fp16', next: false },
    {
      name: 'exact, brotli (default: 256 KiB blocks)',
      compression: 'brotli',
      valueEncoding: 'fp16',
      next: false,
    },
    {
      name: 'exact, brotli, 1 MiB blocks',
      compression: 'brotli',
      valueEncoding: 'fp16',
      next: false,
      blockTargetBytes: 1 << 20,
    },
    {
      name: 'exact, brotli, 4 MiB blocks',
      compression: 'brotli',
      valueEncoding: 'fp16',
      next: false,
      blockTargetBytes: 4 << 20,
    },
    {
      name: 'exact, brotli + next-token log-probs',
      compression: 'brotli',
      valueEncoding: 'fp16',
      next: true,
    },
    { name: 'quantized 1/8, brotli', compression: 'brotli', valueEncoding: 'quantized', next: false },
  ];
  const results: Record<string, unknown>[] = [];
  const paths: Record<string, string> = {};
  for (const config of configurations) {
    const out = join(dir, `${vocabSize}-${config.name.replace(/[^a-z0-9]+/g, '-')}`);
    paths[config.name] = out;
    const writeStart = now();
    const writer = await createStoreWriter(out, {
      identity: identity(vocabSize),
      k: K,
      nextTokenLogProbs: config.next,
      compression: config.compression,
      valueEncoding: config.valueEncoding,
      ...(config.blockTargetBytes
        ? { blockTargetBytes: config.blockTargetBytes, blockExamples: 1 << 20 }
        : {}),
    });
    for (const [index, record] of records.entries()) {
      const stored = config.next ? record : { ...record, nextTokenLogProbs: undefined };
      await writer.append(stored, { cursor: index + 1 });
    }
    const manifest = await writer.finish();
    const writeMs = now() - writeStart;
    const storeBytes = manifest.shards.reduce((sum, s) => sum + s.bytes + s.indexBytes, 0);
    // Streaming read (page cache warm: just written).
    const store = await openStore(out);
    const readStart = now();
    let seen = 0;
    for await (const record of store) seen += record.inputIds.length;
    const readMs = now() - readStart;
    if (seen !== tokens) throw new Error('read back a different token count');
    // Random access: get(i) on random indices (a fresh block each time), and getById.
    const latencies: number[] = [];
    let state = 12345;
    for (let i = 0; i < 200; i++) {
      state = (Math.imul(state, 1103515245) + 12345) >>> 0;
      const start = now();
      await store.get(state % store.size);
      latencies.push(now() - start);
    }
    latencies.sort((a, b) => a - b);
    const byIdStart = now();
    for (let i = 0; i < 50; i++) await store.getById(`example-${(i * 7919) % exampleCount}`);
    const byIdMs = (now() - byIdStart) / 50;
    await store.close();
    results.push({
      vocabSize,
      configuration: config.name,
      bytesPerToken: round(storeBytes / tokens),
      storeMB: round(storeBytes / 1e6),
      writeExamplesPerS: Math.round(exampleCount / (writeMs / 1000)),
      writeTokensPerS: Math.round(tokens / (writeMs / 1000)),
      writeStoreMBps: round(storeBytes / 1e6 / (writeMs / 1000)),
      writeRecordMBps: round(recordBytes / 1e6 / (writeMs / 1000)),
      readExamplesPerS: Math.round(exampleCount / (readMs / 1000)),
      readTokensPerS: Math.round(tokens / (readMs / 1000)),
      readStoreMBps: round(storeBytes / 1e6 / (readMs / 1000)),
      readRecordMBps: round(recordBytes / 1e6 / (readMs / 1000)),
      getP50ms: round(latencies[100]!, 2),
      getP95ms: round(latencies[190]!, 2),
      getByIdMs: round(byIdMs, 2),
    });
  }
  // Mean KL(fp16 ‖ quantized) over every row, both read back from disk.
  const exact = await openStore(paths['exact, brotli (default: 256 KiB blocks)']!);
  const quantized = await openStore(paths['quantized 1/8, brotli']!);
  let klSum = 0;
  let rows = 0;
  let maxKl = 0;
  const iterator = quantized[Symbol.asyncIterator]();
  for await (const record of exact) {
    const other = (await iterator.next()).value as CaptureRecord;
    const value = kl(record.topK.logits, other.topK.logits, K, record.topK.length);
    klSum += value;
    rows += record.topK.length;
    for (let t = 0; t < record.topK.length; t++)
      maxKl = Math.max(
        maxKl,
        kl(record.topK.logits.subarray(t * K), other.topK.logits.subarray(t * K), K, 1),
      );
  }
  await exact.close();
  await quantized.close();
  return {
    results,
    quantizedMeanKl: klSum / rows,
    quantizedMaxRowKl: maxKl,
    tokens,
    examples: exampleCount,
    meanLength: Math.round(tokens / exampleCount),
    generateMs: Math.round(generateMs),
  };
}

/** Peak RSS while streaming a whole store, in a fresh process that holds nothing else. */
async function streamingRss(path: string) {
  const { execFileSync } = await import('node:child_process');
  const output = execFileSync(
    process.execPath,
    [...process.execArgv, process.argv[1]!, '--rss-child', path],
    {
      encoding: 'utf8',
    },
  );
  return JSON.parse(output.trim().split('\n').at(-1)!) as {
    baselineMB: number;
    peakMB: number;
    growthMB: number;
  };
}

async function streamingRssChild(path: string) {
  gc();
  const baseline = process.memoryUsage().rss;
  let peak = baseline;
  const store = await openStore(path);
  let examples = 0;
  for await (const record of store) {
    if (++examples % 16 === 0) peak = Math.max(peak, process.memoryUsage().rss);
    void record;
  }
  await store.close();
  return {
    baselineMB: round(baseline / 1e6, 1),
    peakMB: round(peak / 1e6, 1),
    growthMB: round((peak - baseline) / 1e6, 1),
  };
}

if (args[0] === '--rss-child') {
  console.log(JSON.stringify(await streamingRssChild(args[1]!)));
  process.exit(0);
}
const out: Record<string, unknown> = { node: process.version, loadBefore: loadavg().map((x) => round(x)) };
console.log('transform experiments (bytes per token of each stream; 32 examples, k = 10):');
console.table([...experiments(32_000), ...experiments(151_936)]);
if (!args.includes('--experiments-only')) {
  const dir = await mkdtemp(join(tmpdir(), 'fusechat-store-bench-'));
  try {
    for (const vocabSize of [32_000, 151_936]) {
      const bench = await storeBench(vocabSize, dir);
      console.log(
        `\nvocabulary ${vocabSize}: ${bench.examples} examples, ${bench.tokens} tokens (mean ${bench.meanLength}), generated in ${bench.generateMs} ms`,
      );
      console.table(bench.results);
      console.log(
        `quantized (step 1/8): mean KL(fp16 ‖ quantized) per position = ${bench.quantizedMeanKl.toExponential(2)}, worst row ${bench.quantizedMaxRowKl.toExponential(2)}`,
      );
      out[`vocab${vocabSize}`] = bench;
    }
    // A store several times larger than the reader's RSS growth, generated and written on the fly.
    const bigExamples = option('rss-examples', 6000);
    const big = join(dir, 'rss-151936');
    const source = createSyntheticSource({ vocabSize: 151_936, k: K, seed: 7 });
    const writer = await createStoreWriter(big, {
      identity: identity(151_936),
      k: K,
      nextTokenLogProbs: false,
    });
    for (let index = 0; index < bigExamples; index++)
      await writer.append(source.record(index), { cursor: index + 1 });
    const bigManifest = await writer.finish();
    const decodedMB = round((bigManifest.tokens * (4 + 1 + K * 8)) / 1e6, 0);
    const storeMB = round(bigManifest.shards.reduce((sum, s) => sum + s.bytes + s.indexBytes, 0) / 1e6, 0);
    const rss = await streamingRss(big);
    console.log(
      `\nreader RSS while streaming a 151k store of ${bigExamples} examples (${bigManifest.tokens} tokens, ${storeMB} MB on disk, ${decodedMB} MB decoded) in a fresh process: baseline ${rss.baselineMB} MB, peak ${rss.peakMB} MB (+${rss.growthMB} MB)`,
    );
    out.streamingRss = { ...rss, examples: bigExamples, tokens: bigManifest.tokens, storeMB, decodedMB };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  out.loadAfter = loadavg().map((x) => round(x));
  console.log(
    `\nload average before ${(out.loadBefore as number[]).join(' ')}, after ${(out.loadAfter as number[]).join(' ')}`,
  );
}
