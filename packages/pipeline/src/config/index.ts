export { type LoadPipelineConfigOptions, loadPipelineConfig } from './load-pipeline-config.js';
export {
  analysePipelineConfig,
  isHubReference,
  type ParsePipelineConfigOptions,
  type PipelineConfigAnalysis,
  parsePipelineConfig,
} from './parse-pipeline-config.js';
export { PipelineConfigError } from './pipeline-config-error.js';
export { PIPELINE_CONFIG_SCHEMA_ID, pipelineConfigJsonSchema } from './pipeline-config-json-schema.js';
export {
  captureConfigSchema,
  dataConfigSchema,
  evalConfigSchema,
  namedDataFileSchema,
  type PipelineConfigInput,
  pipelineConfigSchema,
  pipelineMergeConfigSchema,
  pivotConfigSchema,
  reportConfigSchema,
  sourceConfigSchema,
  trainingConfigSchema,
} from './pipeline-config-schema.js';
export type {
  ResolvedDataFile,
  ResolvedLocalModel,
  ResolvedPipelineConfig,
  ResolvedRemoteModel,
  ResolvedSource,
} from './resolved-pipeline-config.js';
