/**
 * The space-marker convention of a vocabulary: SentencePiece-style vocabularies write a leading
 * space as `▁`; byte-level BPE (GPT-2 style) writes it as `Ġ` and a newline as `Ċ`.
 */
export type SpaceMarkerConvention = 'sentencepiece' | 'byte-level';

/** The space marker character of each convention. */
export const SPACE_MARKERS: Readonly<Record<SpaceMarkerConvention, string>> = Object.freeze({
  sentencepiece: '▁',
  'byte-level': 'Ġ',
});

/** Ids of the special tokens a stage needs to know about (undefined when the tokenizer has none). */
export interface SpecialTokenIds {
  readonly bos?: number | undefined;
  readonly eos?: number | undefined;
  readonly unk?: number | undefined;
  readonly pad?: number | undefined;
}

/**
 * The slice of a tokenizer that fusechat's stages need. `@fusechat/tokenizer-alignment` provides
 * one loaded from Hugging Face `tokenizer.json`; tests and users may provide their own.
 */
export interface TokenizerLike {
  /** Number of ids, including added tokens (max id + 1). */
  readonly vocabSize: number;
  readonly specialTokens: SpecialTokenIds;
  readonly spaceMarker: SpaceMarkerConvention;
  /** Identity of the vocabulary (e.g. SHA-256 of `tokenizer.json`), checked by maps and stores. */
  readonly hash: string;
  /** Jinja chat template from `tokenizer_config.json`, when the tokenizer has one. */
  readonly chatTemplate?: string | undefined;
  encode(text: string, options?: { addSpecialTokens?: boolean }): number[];
  decode(ids: readonly number[], options?: { skipSpecialTokens?: boolean }): string;
  /** The vocabulary string of an id (with its space marker), or undefined when out of range. */
  idToToken(id: number): string | undefined;
  tokenToId(token: string): number | undefined;
}
