import { InvalidInputError } from '@fusechat/core';

/**
 * transformers' repetition and n-gram controls, applied to the raw logits before temperature,
 * top-k and top-p (the order of `GenerationMixin._get_logits_processor`), in greedy decoding too.
 */
export interface RepetitionOptions {
  /**
   * transformers' `repetition_penalty` (CTRL, Keskar et al. 2019): every token id that occurs in
   * the prompt or the tokens generated so far has its logit divided by the penalty when positive
   * and multiplied by it when negative. 1 (default) changes nothing; > 1 discourages repeats.
   */
  readonly repetitionPenalty?: number;
  /**
   * transformers' `no_repeat_ngram_size`: a token that would complete an n-gram already present
   * in the prompt + generated tokens gets the logit −∞. 0 (default) bans nothing.
   */
  readonly noRepeatNgramSize?: number;
}

/** Refuses a penalty that is not finite and > 0 or an n-gram size that is not a non-negative integer. */
export function checkRepetitionOptions(options: RepetitionOptions): void {
  const penalty = options.repetitionPenalty;
  if (penalty !== undefined && !(penalty > 0 && Number.isFinite(penalty))) {
    throw new InvalidInputError(`repetitionPenalty must be a finite number > 0, got ${penalty}.`, {
      code: 'MODEL_INVALID_INPUT',
      field: 'repetitionPenalty',
    });
  }
  const size = options.noRepeatNgramSize;
  if (size !== undefined && !(Number.isInteger(size) && size >= 0)) {
    throw new InvalidInputError(`noRepeatNgramSize must be a non-negative integer, got ${size}.`, {
      code: 'MODEL_INVALID_INPUT',
      field: 'noRepeatNgramSize',
    });
  }
}

/** Whether {@link applyRepetitionControls} would change anything. */
export function hasRepetitionControls(options: RepetitionOptions): boolean {
  return (
    (options.repetitionPenalty !== undefined && options.repetitionPenalty !== 1) ||
    (options.noRepeatNgramSize ?? 0) > 0
  );
}

/**
 * The token ids that would complete an n-gram of `history` (`size` tokens): every token that
 * followed an earlier occurrence of the last `size − 1` tokens. None while `history` is shorter
 * than `size − 1`. Size 1 bans every token already in `history`, as transformers does.
 *
 * @example
 * ```ts
 * bannedNgramTokens([5, 6, 7, 5, 6], 3); // [7]: "5 6 7" exists, so 7 may not follow "5 6" again
 * ```
 */
export function bannedNgramTokens(history: readonly number[], size: number): number[] {
  if (size <= 0 || history.length + 1 < size) return [];
  const prefixStart = history.length - (size - 1);
  const banned = new Set<number>();
  // Every window start j whose first size − 1 tokens equal the current prefix, and whose last
  // token exists (j + size − 1 < history.length).
  for (let j = 0; j + size - 1 < history.length; j++) {
    let same = true;
    for (let k = 0; k < size - 1; k++) {
      if (history[j + k] !== history[prefixStart + k]) {
        same = false;
        break;
      }
    }
    if (same) banned.add(history[j + size - 1]!);
  }
  return [...banned];
}

/**
 * A copy of `logits` with transformers' repetition penalty and n-gram ban applied for
 * `history` (prompt + generated ids), or `logits` itself when the options change nothing.
 * Ids outside the vocabulary are ignored.
 *
 * @example
 * ```ts
 * const adjusted = applyRepetitionControls(logits, [...prompt, ...tokens], { repetitionPenalty: 1.3, noRepeatNgramSize: 3 });
 * ```
 */
export function applyRepetitionControls(
  logits: Float32Array,
  history: readonly number[],
  options: RepetitionOptions,
): Float32Array {
  if (!hasRepetitionControls(options)) return logits;
  const out = Float32Array.from(logits);
  // torch multiplies a float32 tensor by the penalty as a float32 scalar.
  const penalty = Math.fround(options.repetitionPenalty ?? 1);
  if (penalty !== 1) {
    // Each id once: transformers gathers the original scores and scatters the penalised ones,
    // so an id repeated in the history is penalised once.
    for (const id of new Set(history)) {
      if (id < 0 || id >= out.length) continue;
      const score = logits[id]!;
      out[id] = score < 0 ? score * penalty : score / penalty;
    }
  }
  const size = options.noRepeatNgramSize ?? 0;
  if (size > 0) {
    for (const id of bannedNgramTokens(history, size)) {
      if (id >= 0 && id < out.length) out[id] = Number.NEGATIVE_INFINITY;
    }
  }
  return out;
}
