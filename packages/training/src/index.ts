export type {
  EvaluationMetrics,
  TrainerState,
  TrainingCallback,
  TrainingControl,
} from './callbacks/training-callback.js';
export { type CheckpointEntry, listCheckpoints, readTrainerState } from './checkpoint/list-checkpoints.js';
export { assertResumable, type CheckpointExpectation, loadCheckpoint } from './checkpoint/load-checkpoint.js';
export { type SaveCheckpointOptions, saveCheckpoint } from './checkpoint/save-checkpoint.js';
export type { LogWindow, TrainerCheckpointState } from './checkpoint/trainer-checkpoint-state.js';
export { type ConfigDatasets, createConfigDatasets } from './config/create-config-datasets.js';
export { loadTrainConfig } from './config/load-train-config.js';
export {
  type ParseTrainConfigOptions,
  parseTrainConfig,
  type TrainConfig,
  type TrainConfigProblem,
  type TrainDatasetConfig,
} from './config/parse-train-config.js';
export { TRAIN_CONFIG_SCHEMA_ID, trainConfigJsonSchema } from './config/train-config-json-schema.js';
export { loraConfigSchema, type TrainConfigInput, trainConfigSchema } from './config/train-config-schema.js';
export { type CollateExample, collateBatch } from './data/collate-batch.js';
export {
  type ChatDataset,
  type ChatDatasetOptions,
  createChatDataset,
} from './data/create-chat-dataset.js';
export {
  createFusionDataset,
  type FusionDataset,
  type FusionDatasetOptions,
} from './data/create-fusion-dataset.js';
export {
  type BatchingOptions,
  type BatchPlan,
  DEFAULT_BATCH_SIZE,
  type PaddingStatistics,
  planBatches,
} from './data/plan-batches.js';
export {
  type AdamW,
  type AdamWOptions,
  type AdamWState,
  createAdamW,
} from './optimizer/create-adamw.js';
export { isDecayParameter } from './optimizer/is-decay-parameter.js';
export { resolveWorkerCount } from './parallel/gradient-worker-pool.js';
export type { LossCurveOptions, LossCurveRow } from './plots/render-loss-curve.js';
export { LOSS_CURVE_SERIES, lossCurveSpec, renderLossCurve } from './plots/render-loss-curve.js';
export { renderVegaLite } from './plots/render-vega-lite.js';
export {
  LEARNING_RATE_SCHEDULES,
  type LearningRateSchedule,
  type LearningRateScheduleOptions,
  learningRateAt,
  warmupStepsFor,
} from './schedules/learning-rate-at.js';
export { evaluateDataset } from './trainer/evaluate-dataset.js';
export type { MetricsRow } from './trainer/metrics-log.js';
export { modelIdentity } from './trainer/model-identity.js';
export {
  DEFAULT_SAVE_STEPS,
  resolveTrainingPlan,
  type TrainingPlan,
} from './trainer/resolve-training-plan.js';
export { type TrainOptions, type TrainResult, train } from './trainer/train.js';
export type { TrainingBatch } from './training-batch.js';
export type { TrainingDataset } from './training-dataset.js';
export type { TrainingOptions } from './training-options.js';
