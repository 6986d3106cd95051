export { type RunPipelineOptions, runPipeline, targetName } from './run-pipeline.js';
