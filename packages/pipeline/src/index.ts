export * from './config/index.js';
export * from './plan/index.js';
export * from './report/index.js';
export type * from './results/pipeline-results.js';
