import { SPACE_MARKERS, type TokenizerLike } from '@fusechat/core';

export { buildVocabularyMap, createDtwAligner, loadTokenizer, vocabularyTokens } from '../src/index.js';

/** The marker character of a tokenizer's convention. */
export const SPACE_MARKERS_OF = (tokenizer: TokenizerLike): string => SPACE_MARKERS[tokenizer.spaceMarker];
