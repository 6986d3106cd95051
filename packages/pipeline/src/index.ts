export * from './config/index.js';
export * from './plan/index.js';
export * from './report/index.js';
export type * from './results/pipeline-results.js';
export * from './run/index.js';
export * from './run-directory/index.js';
export * from './stages/index.js';
