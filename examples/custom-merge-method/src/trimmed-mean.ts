import { defineMergeMethod } from '@fusechat/merge';
import { z } from 'zod';

/**
 * `trimmed_mean`: per element, the trimmed mean of the task vectors `δj = θj − θ0` — sort the
 * models' deltas, drop the `⌊trim·n⌋` smallest and largest, average the rest — then
 * `θ = θ0 + λ · that mean`. A robust task-arithmetic merge: one target whose fine-tune went wrong
 * cannot drag an element further than the others allow (with 3 models and `trim: 0.34` it is the
 * median delta). With `trim: 0` it is task arithmetic with equal weights `1/n`.
 *
 * @example
 * ```yaml
 * merge_method: trimmed_mean
 * base_model: ./pivot
 * models: [{ model: ./target-1 }, { model: ./target-2 }, { model: ./target-3 }]
 * parameters: { trim: 0.34, lambda: 1.0 }
 * ```
 */
export const trimmedMean = defineMergeMethod({
  name: 'trimmed_mean',
  description:
    'Per element, the trimmed mean of the task vectors (drop the ⌊trim·n⌋ lowest and highest), times λ.',
  baseModel: 'required',
  modelCount: { min: 1 },
  parameters: {
    // Fraction dropped at each end; below 0.5 so at least one delta survives.
    trim: z.number().min(0).lt(0.5).default(0.2),
    lambda: z.number().default(1),
  },
  merge({ base, models, parameters }) {
    const out = base!; // the engine hands us the inputs to overwrite
    const count = models.length;
    const dropped = Math.floor(parameters.trim * count);
    const kept = count - 2 * dropped;
    const tensors = models.map((model) => model.tensor);
    const deltas = new Float64Array(count);
    for (let i = 0; i < out.length; i++) {
      const origin = out[i]!;
      // Insertion sort: n is the number of models, a handful.
      for (let j = 0; j < count; j++) {
        const delta = tensors[j]![i]! - origin;
        let k = j;
        while (k > 0 && deltas[k - 1]! > delta) {
          deltas[k] = deltas[k - 1]!;
          k--;
        }
        deltas[k] = delta;
      }
      let sum = 0;
      for (let j = dropped; j < count - dropped; j++) sum += deltas[j]!;
      out[i] = origin + (parameters.lambda * sum) / kept;
    }
    return out;
  },
});
