export { defaultRunHooks } from './default-run-hooks.js';
export { type RunPipelineOptions, runPipeline, targetName } from './run-pipeline.js';
