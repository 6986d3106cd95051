import { defineMergeMethod } from '../../define-merge-method.js';
import { meanSquaredDifference, mixChecked } from '../../kernels/weighted-sum.js';

/**
 * The VaRM weights of one tensor: `Wj = mean(δj²) / Σk mean(δk²)`, uniform when every target
 * equals the base.
 *
 * @example
 * ```ts
 * variationRatioWeights([0.02, 0.06]); // → [0.25, 0.75]
 * ```
 */
export function variationRatioWeights(meanSquaredChanges: readonly number[]): number[] {
  const total = meanSquaredChanges.reduce((a, b) => a + b, 0);
  if (!(total > 0)) return meanSquaredChanges.map(() => 1 / meanSquaredChanges.length);
  return meanSquaredChanges.map((value) => value / total);
}

/**
 * `variation_ratio` (VaRM, FuseChat): per tensor, weight each target by its share of the mean
 * squared change against the pivot (base), `θ = Σ Wj θj`. Targets that moved a tensor more during
 * fusion training get more say in it. No parameters.
 *
 * @example
 * ```yaml
 * merge_method: variation_ratio
 * base_model: ./pivot
 * models:
 *   - model: ./target-1
 *   - model: ./target-2
 * ```
 */
export const variationRatio = defineMergeMethod({
  name: 'variation_ratio',
  description: 'FuseChat VaRM: per-tensor weights from each target’s mean squared change against the pivot.',
  baseModel: 'required',
  merge({ base, models, changeMeanSquare }) {
    const changes = changeMeanSquare ?? models.map((model) => meanSquaredDifference(model.tensor, base!));
    const weights = variationRatioWeights(changes);
    const allFinite = mixChecked(
      base!,
      models.map((model) => model.tensor),
      weights,
    );
    return { tensor: base!, weights, allFinite };
  },
});
