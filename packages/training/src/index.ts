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
export type { TrainingBatch } from './training-batch.js';
export type { TrainingDataset } from './training-dataset.js';
export type { TrainingOptions } from './training-options.js';
