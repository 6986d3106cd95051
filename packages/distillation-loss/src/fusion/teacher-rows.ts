import type { SparseDistributions } from '@fusechat/core';

/** The kept entries of one row: slots with id ≠ −1, first occurrence of each id, stored order. */
export function keptEntries(
  distributions: SparseDistributions,
  position: number,
): { ids: number[]; logits: number[] } {
  const { k } = distributions;
  const ids: number[] = [];
  const logits: number[] = [];
  for (let slot = 0; slot < k; slot++) {
    const index = position * k + slot;
    const id = distributions.ids[index]!;
    if (id === -1 || ids.includes(id)) continue;
    ids.push(id);
    logits.push(distributions.logits[index]!);
  }
  return { ids, logits };
}

/** `softmax(logits)` in float64 (all −∞ → all 0). */
export function softmax(logits: readonly number[]): number[] {
  const max = Math.max(...logits);
  if (max === Number.NEGATIVE_INFINITY) return logits.map(() => 0);
  const weights = logits.map((logit) => Math.exp(logit - max));
  const total = weights.reduce((sum, weight) => sum + weight, 0);
  return weights.map((weight) => weight / total);
}

/** A NaN cross-entropy counts as +∞ (DESIGN.md §3). */
export function effectiveCe(ce: number): number {
  return Number.isNaN(ce) ? Number.POSITIVE_INFINITY : ce;
}
