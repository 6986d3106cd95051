import { createSparseDistributions, setRow } from '@fusechat/core';
import { defineFusionFunction, type FusionFunction, type FusionTeacher } from '../fusion-function.js';
import { effectiveCe, keptEntries, softmax } from '../teacher-rows.js';

/**
 * The AvgCE teacher weights: `w_i ∝ exp(−CE_i)` (a softmax of the negated CEs). `exp(−CE)` is
 * the geometric-mean probability the teacher gave each gold token (1 / perplexity), so the
 * weights are the posterior over teachers given the response, per token, under a uniform prior.
 * A NaN or +∞ CE gets weight 0; when no teacher has a finite CE the pivot gets everything
 * (MinCE's tie rule).
 *
 * @example
 * ```ts
 * avgCeWeights([{ distributions: pivot, ce: 2 }, { distributions: source, ce: 1 }]); // [0.269, 0.731]
 * ```
 */
export function avgCeWeights(teachers: readonly FusionTeacher[]): number[] {
  const ces = teachers.map((teacher) => effectiveCe(teacher.ce));
  const best = Math.min(...ces);
  if (best === Number.POSITIVE_INFINITY) return ces.map((_, index) => (index === 0 ? 1 : 0));
  const raw = ces.map((ce) => (ce === Number.POSITIVE_INFINITY ? 0 : Math.exp(best - ce)));
  const total = raw.reduce((sum, weight) => sum + weight, 0);
  return raw.map((weight) => weight / total);
}

/**
 * AvgCE: a CE-weighted mixture of the teachers' distributions. Weights are `softmax(−CE)` over the
 * teachers (see {@link avgCeWeights} for why). At each position the teachers' *probabilities*
 * `q_i = softmax(logits_i)` over their kept entries (first occurrence of each id) are mixed over
 * the union of their ids, `p(v) = Σ_i w_i q_i(v)` (renormalising the weights over the teachers
 * that have entries at that position; when none of them has, the pivot's row is used), and written back as log-probabilities, so that the
 * loss's `softmax` over the kept entries reproduces the mixture exactly. Mixing probabilities
 * rather than logits keeps a token that only one teacher ranks; averaging logits would need
 * a value for the ids a teacher does not list.
 *
 * Output rows hold the union sorted by descending probability, with `k = options.k ?? Σ teacher
 * k` slots (the exact mixture); a smaller `k` keeps the most probable entries and the loss then
 * renormalises over them.
 *
 * @example
 * ```ts
 * const { distributions, teacherWeights } = avgCE.fuse([
 *   { distributions: pivotTopK, ce: 2.0 },
 *   { distributions: alignedSourceTopK, ce: 1.0 },
 * ]); // teacherWeights ≈ [0.269, 0.731]
 * ```
 */
export const avgCE: FusionFunction = defineFusionFunction({
  name: 'avg_ce',
  description: 'Mixture of the teachers’ probabilities with weights softmax(−CE).',
  fuse(teachers, options) {
    const weights = avgCeWeights(teachers);
    const length = teachers[0]!.distributions.length;
    const k = options.k ?? teachers.reduce((sum, teacher) => sum + teacher.distributions.k, 0);
    const out = createSparseDistributions(length, k);
    for (let position = 0; position < length; position++) {
      const rows = teachers.map((teacher) => keptEntries(teacher.distributions, position));
      let present = 0;
      rows.forEach((row, index) => {
        if (row.ids.length > 0) present += weights[index]!;
      });
      // No weighted teacher has entries here: fall back to the pivot's row (as alignment does).
      const positionWeights =
        present > 0 ? weights.map((weight) => weight / present) : weights.map((_, i) => (i === 0 ? 1 : 0));
      const mixture = new Map<number, number>();
      rows.forEach((row, index) => {
        const weight = positionWeights[index]!;
        if (row.ids.length === 0 || weight === 0) return;
        const q = softmax(row.logits);
        row.ids.forEach((id, slot) => {
          mixture.set(id, (mixture.get(id) ?? 0) + weight * q[slot]!);
        });
      });
      // Stable sort: equal probabilities keep the order in which the teachers listed them.
      const entries = [...mixture].sort((a, b) => b[1] - a[1]).slice(0, k);
      setRow(
        out,
        position,
        entries.map(([id]) => id),
        entries.map(([, probability]) => Math.log(probability)),
      );
    }
    return { distributions: out, teacherWeights: weights };
  },
});
