export type { TrainingBatch } from './training-batch.js';
export type { TrainingDataset } from './training-dataset.js';
export type { TrainingOptions } from './training-options.js';
