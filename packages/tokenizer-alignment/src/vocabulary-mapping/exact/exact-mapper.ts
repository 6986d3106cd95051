import type { VocabularyMapper } from '../vocabulary-mapper.js';

/**
 * `exact`: only the common rules (BOS/EOS, exact string match after swapping the space marker)
 * place ids; every other source id maps to the fallback (pivot unk, or eos when there is none).
 *
 * @example
 * ```ts
 * const map = await buildVocabularyMap(llama3, qwen, { method: 'exact' });
 * ```
 */
export const exactMapper: VocabularyMapper = {
  name: 'exact',
  map: (request) => new Int32Array(request.unresolved.length).fill(request.fallbackId),
};
