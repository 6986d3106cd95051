import { InvalidInputError, type Random } from '@fusechat/core';

/** How to pick the next token from a logits row. */
export interface SamplingOptions {
  /** 0 (default) = greedy (argmax); otherwise logits are divided by it before sampling. */
  readonly temperature?: number;
  /** Nucleus sampling: keep the most likely tokens whose probabilities sum to at least `topP` (default 1). */
  readonly topP?: number;
  /** Keep only the `topK` most likely tokens (default: all). */
  readonly topK?: number;
}

/** First nucleus size tried without sorting the whole vocabulary; grows ×8 until the nucleus fits. */
const FIRST_CANDIDATES = 64;

/**
 * Picks a token id from one row of logits: argmax when `temperature` is 0, otherwise a draw
 * from `softmax(logits / temperature)` restricted by `topK` and `topP` (as `transformers`'
 * warpers: top-k first, then the smallest nucleus reaching `topP`, at least one token).
 * Only `topP = 1` without `topK` sorts the whole vocabulary; with `topK` or `topP < 1` just the
 * candidates are sorted, drawing exactly the token a full sort would.
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
  if (logits[best] === Number.NEGATIVE_INFINITY) {
    throw new InvalidInputError(
      'every token is excluded (all logits are −∞): the stop tokens, the n-gram ban or top-k left nothing to draw.',
      { code: 'MODEL_INVALID_SAMPLING', field: 'logits' },
    );
  }
  if (temperature === 0) return best;
  if (!(temperature > 0) || !Number.isFinite(temperature)) {
    throw new InvalidInputError(
      `temperature must be 0 (greedy) or a finite number > 0, got ${temperature}.`,
      {
        code: 'MODEL_INVALID_SAMPLING',
        field: 'temperature',
      },
    );
  }
  // (logit − max) / T ≤ 0 for every token: no overflow for any T > 0, even a denormal one (which
  // then keeps only the argmax, the T → 0 limit) — logit / T − max / T would be ∞ − ∞ = NaN.
  const max = logits[best]!;
  const weightOf = (id: number) => Math.exp((logits[id]! - max) / temperature);
  const topP = options.topP ?? 1;
  const topK = Math.max(1, Math.min(options.topK ?? logits.length, logits.length));
  if (topK < logits.length) return drawFrom(highestLogits(logits, topK), weightOf, topP, random);
  if (topP < 1) {
    // The nucleus is a prefix of the sorted order; its cut-off needs the sum of all weights,
    // summed here in id order. The full sort sums them largest first, so the cut-off is taken
    // only when that rounding difference (< margin) cannot move it; otherwise sort everything.
    let total = 0;
    for (let id = 0; id < logits.length; id++) total += weightOf(id);
    const margin = 4 * (logits.length + 1) * Number.EPSILON;
    for (let size = FIRST_CANDIDATES; size < logits.length; size *= 8) {
      const candidates = highestLogits(logits, size);
      let cumulative = 0;
      for (let i = 0; i < candidates.length; i++) {
        const previous = cumulative;
        cumulative += weightOf(candidates[i]!) / total;
        if (cumulative < topP) continue;
        if (cumulative - topP < margin || (i > 0 && topP - previous <= margin)) break;
        return drawFrom(candidates.slice(0, i + 1), weightOf, 1, random);
      }
      if (cumulative >= topP) break;
    }
  }
  const order = Array.from({ length: logits.length }, (_, i) => i).sort((a, b) => logits[b]! - logits[a]!);
  return drawFrom(order, weightOf, topP, random);
}

/**
 * Draws from `kept` (ids, most likely first) cut to the smallest prefix whose share of the
 * weight of `kept` reaches `topP`.
 */
function drawFrom(
  kept: readonly number[],
  weightOf: (id: number) => number,
  topP: number,
  random: Random,
): number {
  const weights = kept.map(weightOf);
  const total = weights.reduce((a, b) => a + b, 0);
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

/**
 * The ids of the `count` highest logits, highest first, ties by lower id (the order of a stable
 * descending sort), in O(vocab · log count) with a bounded min-heap.
 */
function highestLogits(logits: ArrayLike<number>, count: number): number[] {
  // `a` ranks below `b` in the sorted order.
  const below = (a: number, b: number) => logits[a]! < logits[b]! || (logits[a] === logits[b] && a > b);
  const heap: number[] = [];
  const siftDown = (start: number) => {
    let parent = start;
    for (;;) {
      const left = 2 * parent + 1;
      if (left >= heap.length) return;
      const right = left + 1;
      const lowest = right < heap.length && below(heap[right]!, heap[left]!) ? right : left;
      if (!below(heap[lowest]!, heap[parent]!)) return;
      [heap[parent], heap[lowest]] = [heap[lowest]!, heap[parent]!];
      parent = lowest;
    }
  };
  for (let id = 0; id < logits.length; id++) {
    if (heap.length < count) {
      heap.push(id);
      for (let child = heap.length - 1; child > 0; ) {
        const parent = (child - 1) >> 1;
        if (!below(heap[child]!, heap[parent]!)) break;
        [heap[parent], heap[child]] = [heap[child]!, heap[parent]!];
        child = parent;
      }
    } else if (below(heap[0]!, id)) {
      heap[0] = id;
      siftDown(0);
    }
  }
  return heap.sort((a, b) => logits[b]! - logits[a]! || a - b);
}
