import { defineTaskArithmeticFamily } from '../generalized-task-arithmetic/generalized-task-arithmetic.js';

/**
 * `dare_linear`: drop each delta entry with probability `1 − density` (seeded), rescale the rest
 * (L1-norm matching by default, `rescale_mode: inverse_density` for the paper's `1/density`), then
 * task arithmetic.
 *
 * @example
 * ```yaml
 * merge_method: dare_linear
 * base_model: ./pivot
 * models:
 *   - { model: ./target-1, parameters: { weight: 0.5, density: 0.7 } }
 *   - { model: ./target-2, parameters: { weight: 0.5, density: 0.7 } }
 * ```
 */
export const dareLinear = defineTaskArithmeticFamily({
  name: 'dare_linear',
  description: 'Drop and rescale task vectors, then add them (Yu et al. 2023).',
  sparsification: 'random',
  consensus: 'none',
  defaultNormalize: false,
  defaultRescale: true,
});

/**
 * `dare_ties`: DARE's random drop and rescale, then TIES' sign consensus.
 *
 * @example
 * ```yaml
 * merge_method: dare_ties
 * base_model: ./pivot
 * models:
 *   - { model: ./target-1, parameters: { weight: 0.5, density: 0.5 } }
 *   - { model: ./target-2, parameters: { weight: 0.5, density: 0.5 } }
 * ```
 */
export const dareTies = defineTaskArithmeticFamily({
  name: 'dare_ties',
  description: 'Drop and rescale task vectors, then TIES sign consensus (Yu et al. 2023).',
  sparsification: 'random',
  consensus: 'sum',
  defaultNormalize: false,
  defaultRescale: true,
});
