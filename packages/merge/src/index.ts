export { builtinMergeMethods } from './builtin-merge-methods.js';
export { loadMergeConfig } from './config/load-merge-config.js';
export {
  type MergeConfig,
  type MergeConfigInput,
  type MergeConfigModel,
  type MergeConfigSlice,
  type MergeDType,
  mergeConfigSchema,
  parseMergeConfig,
} from './config/merge-config.js';
export {
  type ConditionalSetting,
  evaluateSetting,
  type ParameterSetting,
  parameterSettingSchema,
  type ScalarSetting,
} from './config/parameter-setting.js';
export {
  createParameterResolver,
  layerIndexOf,
  type ParameterResolver,
  type TensorPosition,
} from './config/resolve-parameters.js';
export {
  defineMergeMethod,
  type MergeMethodDefinition,
  parseParameterValues,
} from './define-merge-method.js';
export { type MergeModelsResult, mergeModels } from './engine/merge-models.js';
export type { MergeModelsOptions } from './engine/merge-options.js';
export {
  type MergeReport,
  MODULE_TYPES,
  mergeReportSpec,
  moduleTypeOf,
  renderReportSvg,
  type TensorReport,
} from './engine/merge-report.js';
export { closePlan, type MergePlan, type PlannedTensor, preflightMerge } from './engine/preflight.js';
export { keepLargestMagnitudes, topKMask } from './kernels/top-k.js';
export {
  allocateKernelArrays,
  mergeKernelsAvailable,
  releaseKernelArrays,
} from './kernels/wasm/kernel-arena.js';
export type {
  AnyMergeMethod,
  BaseModelUse,
  MergeMethod,
  MergeModelInput,
  MergeTensorInput,
  MergeTensorResult,
  ParameterSchemas,
  ParameterValues,
} from './merge-method.js';
export { createMergeRegistry, type MergeRegistry } from './merge-registry.js';
export { dareLinear, dareTies } from './methods/dare/dare.js';
export {
  type Consensus,
  defineTaskArithmeticFamily,
  dropAndRescale,
  type Sparsification,
  type TaskArithmeticFamilyOptions,
} from './methods/generalized-task-arithmetic/generalized-task-arithmetic.js';
export { linear } from './methods/linear/linear.js';
export { sce } from './methods/sce/sce.js';
export { slerp, slerpTensors } from './methods/slerp/slerp.js';
export { taskArithmetic } from './methods/task-arithmetic/task-arithmetic.js';
export { ties } from './methods/ties/ties.js';
export { variationRatio, variationRatioWeights } from './methods/variation-ratio/variation-ratio.js';
