import { defineMergeMethod } from '../../define-merge-method.js';
import { real } from '../parameter-schemas.js';

const DOT_THRESHOLD = 0.9995;
const NORM_EPSILON = 1e-8;

/**
 * Spherical interpolation between two whole tensors, as mergekit: the angle comes from the
 * normalised tensors, the result mixes the original ones; nearly colinear tensors are lerped.
 *
 * @example
 * ```ts
 * slerpTensors(0.5, new Float32Array([1, 0]), new Float32Array([0, 1])); // ≈ [0.7071, 0.7071]
 * ```
 */
export function slerpTensors(
  t: number,
  from: Float32Array,
  to: Float32Array,
  out: Float32Array = new Float32Array(from.length),
): Float32Array {
  let fromNorm = 0;
  let toNorm = 0;
  let dot = 0;
  for (let i = 0; i < from.length; i++) {
    const a = from[i]!;
    const b = to[i]!;
    fromNorm += a * a;
    toNorm += b * b;
    dot += a * b;
  }
  fromNorm = Math.sqrt(fromNorm);
  toNorm = Math.sqrt(toNorm);
  if (fromNorm > NORM_EPSILON) dot /= fromNorm;
  if (toNorm > NORM_EPSILON) dot /= toNorm;
  let fromScale: number;
  let toScale: number;
  if (Math.abs(dot) > DOT_THRESHOLD) {
    fromScale = 1 - t;
    toScale = t;
  } else {
    const theta = Math.acos(dot);
    const sinTheta = Math.sin(theta);
    fromScale = Math.sin(theta - theta * t) / sinTheta;
    toScale = Math.sin(theta * t) / sinTheta;
  }
  for (let i = 0; i < from.length; i++) out[i] = fromScale * from[i]! + toScale * to[i]!;
  return out;
}

/**
 * `slerp`: spherical interpolation from the base model (`t = 0`) to the one other model (`t = 1`).
 *
 * @example
 * ```yaml
 * merge_method: slerp
 * base_model: ./a
 * models: [{ model: ./a }, { model: ./b }]
 * parameters:
 *   t:
 *     - { filter: self_attn, value: [0, 0.5, 0.3, 0.7, 1] }
 *     - { filter: mlp, value: [1, 0.5, 0.7, 0.3, 0] }
 *     - value: 0.5
 * ```
 */
export const slerp = defineMergeMethod({
  name: 'slerp',
  description: 'Spherical linear interpolation between the base and one other model.',
  baseModel: 'required',
  modelCount: { min: 1, max: 1 },
  parameters: { t: real() },
  merge({ base, models, parameters }) {
    return slerpTensors(parameters.t, base!, models[0]!.tensor, base!);
  },
});
