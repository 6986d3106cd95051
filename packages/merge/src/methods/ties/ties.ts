import { defineTaskArithmeticFamily } from '../generalized-task-arithmetic/generalized-task-arithmetic.js';

/**
 * `ties`: keep each model's `⌊density·numel⌋` largest |δ|, elect the sign of `Σ wj δj` per
 * element, average the agreeing weighted deltas (normalize on by default), times λ.
 *
 * @example
 * ```yaml
 * merge_method: ties
 * base_model: ./pivot
 * models:
 *   - { model: ./target-1, parameters: { weight: 1, density: 0.5 } }
 *   - { model: ./target-2, parameters: { weight: 1, density: 0.5 } }
 * ```
 */
export const ties = defineTaskArithmeticFamily({
  name: 'ties',
  description: 'Trim, elect sign, disjoint merge (Yadav et al. 2023).',
  sparsification: 'magnitude',
  consensus: 'sum',
  defaultNormalize: true,
  defaultRescale: false,
});
