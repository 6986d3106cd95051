import { dareLinear, dareTies } from './methods/dare/dare.js';
import { linear } from './methods/linear/linear.js';
import { sce } from './methods/sce/sce.js';
import { slerp } from './methods/slerp/slerp.js';
import { taskArithmetic } from './methods/task-arithmetic/task-arithmetic.js';
import { ties } from './methods/ties/ties.js';
import { variationRatio } from './methods/variation-ratio/variation-ratio.js';

/**
 * Every built-in merge method, keyed by config name. Spread it into `createMergeRegistry` with
 * your own methods.
 *
 * @example
 * ```ts
 * const registry = createMergeRegistry({ ...builtinMergeMethods, [mine.name]: mine });
 * ```
 */
export const builtinMergeMethods = Object.freeze({
  linear,
  task_arithmetic: taskArithmetic,
  variation_ratio: variationRatio,
  ties,
  dare_linear: dareLinear,
  dare_ties: dareTies,
  sce,
  slerp,
});
