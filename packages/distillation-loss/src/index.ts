export { avgCE, avgCeWeights } from './fusion/avg-ce/avg-ce.js';
export { type FuseTargetsOptions, type FusionInput, fuseTargets } from './fusion/fuse-targets.js';
export {
  defineFusionFunction,
  type FusionFunction,
  type FusionFunctionDefinition,
  type FusionOptions,
  type FusionResult,
  type FusionTeacher,
} from './fusion/fusion-function.js';
export {
  builtinFusionFunctions,
  createFusionRegistry,
  type FusionRegistry,
} from './fusion/fusion-registry.js';
export { minCE } from './fusion/min-ce/min-ce.js';
export {
  type PackedTargets,
  type PackOptions,
  packFusedTargetArrays,
  packFusedTargets,
} from './fusion/pack-fused-targets.js';
export { clmLoss } from './losses/clm-loss/clm-loss.js';
export {
  type CombinedLossOptions,
  type CombinedLossParts,
  combinedLoss,
  type DistillationBatch,
} from './losses/combined-loss/combined-loss.js';
export { fusionLoss } from './losses/fusion-loss/fusion-loss.js';
export { IGNORE_INDEX, type TokenMatrix } from './losses/loss-inputs.js';
export type { FusionLossOptions, LossOptions } from './losses/loss-options.js';
export type { SoftmaxStrategy } from './losses/sparse-cross-entropy.js';
