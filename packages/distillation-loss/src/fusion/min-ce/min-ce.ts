import { createSparseDistributions, setRow } from '@fusechat/core';
import { defineFusionFunction, type FusionFunction } from '../fusion-function.js';
import { effectiveCe, keptEntries } from '../teacher-rows.js';

/**
 * MinCE (FuseLLM/FuseChat): per example, the teacher with the lowest mean response CE provides
 * the whole target. Ties go to the pivot (then to the earlier source); a NaN CE counts as +∞, so
 * when no CE is known the pivot wins. Within a row, duplicate ids keep their first occurrence.
 * A position where the winner has no entries falls back to the pivot's row. Output rows have
 * `k = options.k ?? max teacher k` slots; longer rows keep their first `k` entries (the highest,
 * as rows are stored by descending logit). With `options.temperature = T` the rows hold the
 * winner's `logits / T` (tempered by {@link defineFusionFunction}), so the loss at temperature 1
 * sees `softmax(logits / T)` — the same target as tempering in the loss.
 *
 * @example
 * ```ts
 * const { distributions, teacherWeights } = minCE.fuse([
 *   { distributions: pivotTopK, ce: 1.9 },
 *   { distributions: alignedSourceTopK, ce: 1.4 },
 * ]); // teacherWeights = [0, 1]
 * ```
 */
export const minCE: FusionFunction = defineFusionFunction({
  name: 'min_ce',
  description: 'Per example, the teacher with the lowest CE on the gold response wins (ties → pivot).',
  fuse(teachers, options) {
    let winner = 0;
    for (let index = 1; index < teachers.length; index++) {
      if (effectiveCe(teachers[index]!.ce) < effectiveCe(teachers[winner]!.ce)) winner = index;
    }
    const pivot = teachers[0]!.distributions;
    const chosen = teachers[winner]!.distributions;
    const k = options.k ?? Math.max(...teachers.map((teacher) => teacher.distributions.k));
    const out = createSparseDistributions(pivot.length, k);
    for (let position = 0; position < pivot.length; position++) {
      let row = keptEntries(chosen, position);
      if (row.ids.length === 0 && winner !== 0) row = keptEntries(pivot, position);
      setRow(out, position, row.ids.slice(0, k), row.logits.slice(0, k));
    }
    return { distributions: out, teacherWeights: teachers.map((_, index) => (index === winner ? 1 : 0)) };
  },
});
