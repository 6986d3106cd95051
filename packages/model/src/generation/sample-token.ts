import type { Random } from '@fusechat/core';

/** How to pick the next token from a logits row. */
export interface SamplingOptions {
  /** 0 (default) = greedy (argmax); otherwise logits are divided by it before sampling. */
  readonly temperature?: number;
  /** Nucleus sampling: keep the most likely tokens whose probabilities sum to at least `topP` (default 1). */
  readonly topP?: number;
  /** Keep only the `topK` most likely tokens (default: all). */
  readonly topK?: number;
}

/**
 * Picks a token id from one row of logits: argmax when `temperature` is 0, otherwise a draw
 * from `softmax(logits / temperature)` restricted by `topK` and `topP` (as `transformers`'
 * warpers: top-k first, then the smallest nucleus reaching `topP`, at least one token).
 *
 * @example
 * ```ts
 * const id = sampleToken(lastLogits, { temperature: 0.7, topP: 0.9 }, createRandom(1));
 * ```
 */
export function sampleToken(logits: ArrayLike<number>, options: SamplingOptions, random: Random): number {
  const temperature = options.temperature ?? 0;
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[best]!) best = i;
  if (temperature === 0) return best;
  const order = Array.from({ length: logits.length }, (_, i) => i).sort((a, b) => logits[b]! - logits[a]!);
  const kept = order.slice(0, Math.max(1, Math.min(options.topK ?? order.length, order.length)));
  const max = logits[best]! / temperature;
  const weights = kept.map((id) => Math.exp(logits[id]! / temperature - max));
  const total = weights.reduce((a, b) => a + b, 0);
  const topP = options.topP ?? 1;
  let count = kept.length;
  if (topP < 1) {
    let cumulative = 0;
    for (let i = 0; i < kept.length; i++) {
      cumulative += weights[i]! / total;
      if (cumulative >= topP) {
        count = i + 1;
        break;
      }
    }
  }
  const nucleusTotal = weights.slice(0, count).reduce((a, b) => a + b, 0);
  let draw = random.float64() * nucleusTotal;
  for (let i = 0; i < count; i++) {
    draw -= weights[i]!;
    if (draw < 0) return kept[i]!;
  }
  return kept[count - 1]!;
}
