import { defineTaskArithmeticFamily } from '../generalized-task-arithmetic/generalized-task-arithmetic.js';

/**
 * `task_arithmetic`: `θ0 + λ Σ wj δj`, divided by `Σ wj` when `normalize: true` (default false).
 *
 * @example
 * ```yaml
 * merge_method: task_arithmetic
 * base_model: ./pivot
 * parameters: { lambda: 0.8 }
 * models:
 *   - { model: ./target-1, parameters: { weight: 0.5 } }
 *   - { model: ./target-2, parameters: { weight: 0.5 } }
 * ```
 */
export const taskArithmetic = defineTaskArithmeticFamily({
  name: 'task_arithmetic',
  description: 'Base plus the weighted sum of task vectors (Ilharco et al. 2022).',
  sparsification: 'none',
  consensus: 'none',
  defaultNormalize: false,
  defaultRescale: false,
});
