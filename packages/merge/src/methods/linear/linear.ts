import { InvalidInputError } from '@fusechat/core';
import { defineMergeMethod } from '../../define-merge-method.js';
import { mixChecked } from '../../kernels/weighted-sum.js';
import { flag, real } from '../parameter-schemas.js';

/**
 * `linear`: the weighted average `Σ wj θj / Σ wj` (`normalize: false` skips the division). The
 * base model plays no special part: list it under `models` with a weight to include it.
 *
 * @example
 * ```yaml
 * merge_method: linear
 * models:
 *   - { model: ./a, parameters: { weight: 0.7 } }
 *   - { model: ./b, parameters: { weight: 0.3 } }
 * ```
 */
export const linear = defineMergeMethod({
  name: 'linear',
  description: 'Weighted average of the models (Wortsman et al., model soups).',
  baseModel: 'unused',
  parameters: { normalize: flag(true) },
  perModelParameters: { weight: real() },
  checkParameters({ tensorName, parameters, models }) {
    const sum = models.reduce((total, model) => total + model.weight, 0);
    return parameters.normalize && sum === 0
      ? [
          `linear: the weights of ${tensorName} sum to zero (normalize: true divides by their sum); give a model a non-zero weight or set normalize: false`,
        ]
      : [];
  },
  merge({ tensorName, models, parameters }) {
    let weightSum = 0;
    for (const model of models) weightSum += model.parameters.weight;
    const divisor = parameters.normalize ? weightSum : 1;
    if (divisor === 0) {
      throw new InvalidInputError(
        `linear: the weights of ${tensorName} sum to zero, so the normalised average is undefined. Give some model a non-zero weight, or set normalize: false.`,
        { code: 'MERGE_ZERO_WEIGHTS', field: 'models[].parameters.weight', details: { tensorName } },
      );
    }
    // In place into the first model's tensor (the engine's buffer): no tensor-sized allocation.
    const out = models[0]!.tensor;
    const scales = models.map((model) => model.parameters.weight / divisor);
    const allFinite = mixChecked(
      out,
      models.map((model) => model.tensor),
      scales,
      true,
    );
    return { tensor: out, allFinite };
  },
});
