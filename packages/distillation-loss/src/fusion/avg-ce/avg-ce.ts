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
 * `q_i = softmax(logits_i / T)` over their kept entries (first occurrence of each id; each teacher
 * tempered on its own, `T = options.temperature`, before mixing) are mixed over the union of
 * their ids, `p(v) = Σ_i w_i q_i(v)`, and written back as log-probabilities, so that the loss's
 * `softmax` at temperature 1 over the kept entries reproduces the mixture exactly. Mixing
 * probabilities rather than logits keeps a token that only one teacher ranks; averaging logits
 * would need a value for the ids a teacher does not list.
 *
 * A source with an empty row at a position takes the pivot's row there, with its own weight —
 * FuseChat's collator does the same ("bad case": `fused_target_dist[i][j] = base_target_dist[i][j]`,
 * FuseChat/train/data_collator.py) — so the weights are never renormalised because of it. Only
 * when the pivot's row is empty too are the weights renormalised over the teachers that have
 * entries there (an empty output row when none has).
 *
 * Output rows hold the union sorted by descending probability, with `k = options.k ?? Σ teacher
 * k` slots (the exact mixture); a smaller `k` keeps the most probable entries and the loss then
 * renormalises over them.
 *
 * @example
 * ```ts
 * const { distributions, teacherWeights } = avgCE.fuse(
 *   [
 *     { distributions: pivotTopK, ce: 2.0 },
 *     { distributions: alignedSourceTopK, ce: 1.0 },
 *   ],
 *   { temperature: 2 },
 * ); // teacherWeights ≈ [0.269, 0.731]; rows = log(0.269·softmax(z_pivot/2) + 0.731·softmax(z_source/2))
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
      const pivotRow = keptEntries(teachers[0]!.distributions, position);
      // A source without entries here stands in with the pivot's row (FuseChat's "bad case").
      const rows = teachers.map((teacher, index) => {
        if (index === 0) return pivotRow;
        const row = keptEntries(teacher.distributions, position);
        return row.ids.length > 0 ? row : pivotRow;
      });
      let present = 0;
      rows.forEach((row, index) => {
        if (row.ids.length > 0) present += weights[index]!;
      });
      // Renormalise only when some weighted teacher still has no row (the pivot's is empty too).
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
