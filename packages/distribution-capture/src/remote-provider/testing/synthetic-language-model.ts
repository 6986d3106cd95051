// A deterministic stand-in for a served model, exact in float64: at every position the logits are
// 0 for all ids except BUMPED ids (chosen by hashing the last two tokens and the position) that get
// logits in [1, 8). So log Z = log((V − BUMPED) + Σ e^z) in closed form and the top-k is the sorted
// bumped set: the fixture servers answer with the numbers a reference computes by hand.

/** Ids with a non-zero logit per position (≥ every k the tests ask for). */
export const BUMPED = 48;

export interface SyntheticPosition {
  /** The bumped ids, best first, with their log-probabilities (float64). */
  readonly ranked: readonly { readonly id: number; readonly logprob: number }[];
  /** log-probability of any id outside the bumped set. */
  readonly restLogprob: number;
}

/** The model's distribution after `prefix` (its last position), over `vocabSize` ids. */
export function syntheticPosition(prefix: ArrayLike<number>, vocabSize: number): SyntheticPosition {
  const length = prefix.length;
  const previous = length > 0 ? prefix[length - 1]! : -1;
  const before = length > 1 ? prefix[length - 2]! : -1;
  let state = hash(hash(previous + 7) ^ hash(before + 1_000_003) ^ hash(length * 2_654_435_761));
  const logits = new Map<number, number>();
  while (logits.size < BUMPED) {
    state = hash(state + 0x9e3779b9);
    const id = state % vocabSize;
    state = hash(state + 0x85ebca6b);
    if (!logits.has(id)) logits.set(id, 1 + (7 * state) / 0x1_0000_0000);
  }
  let sum = vocabSize - BUMPED;
  for (const z of logits.values()) sum += Math.exp(z);
  const logZ = Math.log(sum);
  const ranked = [...logits.entries()]
    .sort((a, b) => b[1] - a[1] || a[0] - b[0])
    .map(([id, z]) => ({ id, logprob: z - logZ }));
  return { ranked, restLogprob: -logZ };
}

/** log p(id | prefix) and its rank as vLLM counts it (ids with a logprob ≥ it, itself included). */
export function syntheticTokenLogprob(
  prefix: ArrayLike<number>,
  id: number,
  vocabSize: number,
): { logprob: number; rank: number } {
  const position = syntheticPosition(prefix, vocabSize);
  const at = position.ranked.findIndex((entry) => entry.id === id);
  if (at >= 0) return { logprob: position.ranked[at]!.logprob, rank: at + 1 };
  return { logprob: position.restLogprob, rank: vocabSize };
}

/**
 * A sequence that follows the model where `choices[t]` says (take its `choices[t]`-th best id,
 * 1-based) and goes outside its top ids elsewhere (`choices[t] = 0`), from `start`.
 */
export function syntheticSequence(start: number, choices: readonly number[], vocabSize: number): Int32Array {
  const ids = [start];
  for (const [t, choice] of choices.entries()) {
    const position = syntheticPosition(ids, vocabSize);
    if (choice > 0) ids.push(position.ranked[choice - 1]!.id);
    else {
      let id = ((hash(t + start) % vocabSize) + vocabSize) % vocabSize;
      while (position.ranked.some((entry) => entry.id === id)) id = (id + 1) % vocabSize;
      ids.push(id);
    }
  }
  return Int32Array.from(ids);
}

function hash(value: number): number {
  let x = value >>> 0;
  x = Math.imul(x ^ (x >>> 16), 0x7feb352d) >>> 0;
  x = Math.imul(x ^ (x >>> 15), 0x846ca68b) >>> 0;
  return (x ^ (x >>> 16)) >>> 0;
}
