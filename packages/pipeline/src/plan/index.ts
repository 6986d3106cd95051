export {
  type AlignCalibration,
  type CaptureCalibration,
  calibrateAlign,
  calibrateCapture,
  calibrateEvaluation,
  calibrateGeneration,
  calibrateMerge,
  calibrateTraining,
  type GenerationCalibration,
  type MergeCalibration,
  type TrainingCalibration,
} from './calibrate.js';
export { checkPlanFits, type PlanLimits, planDoesNotFit, planShortfalls } from './check-plan-fits.js';
export { type CountDataTokensOptions, countDataTokens, type DataTokenCounts } from './count-data-tokens.js';
export { type FormattablePlan, formatPlan } from './format-plan.js';
export { type MachineResources, readMachineResources } from './machine-resources.js';
export {
  type BatchShape,
  captureMemory,
  evaluationMemory,
  forwardActivationBytes,
  type MemoryBreakdown,
  type ModelShape,
  mergeMemory,
  modelParameters,
  TRAINING_WORKER_OVERHEAD_BYTES,
  trainingMemory,
} from './memory-model.js';
export { PipelinePlanError, type PlanShortfall } from './pipeline-plan-error.js';
export {
  type PlanInput,
  type PlanLocalModel,
  type PlanRemoteModel,
  type PlanSource,
  planInputFromConfig,
} from './plan-input.js';
export {
  type PipelinePlan,
  type PlannedStage,
  type PlanPipelineOptions,
  planPipeline,
  planRecord,
} from './plan-pipeline.js';
export {
  calibrateStore,
  predictStoreBytes,
  type StoreCalibration,
  type StorePrediction,
  shardIndexBytes,
} from './store-size.js';
