export {
  type DownloadedModel,
  type DownloadModelOptions,
  downloadModelToCache,
  MODEL_SIDE_FILES,
  normalizeEtag,
} from './download-model-to-cache.js';
export {
  type CachedSnapshot,
  findCachedSnapshot,
  type ModelFilesNeed,
  missingModelFiles,
  refPath,
  repoCacheFolder,
  shardsOfIndex,
  snapshotPath,
} from './hub-cache.js';
export {
  DEFAULT_HUB_ENDPOINT,
  type HubEnvironment,
  hfHome,
  hubCacheDirectory,
  hubEnvironment,
  hubToken,
} from './hub-environment.js';
export { HubError, type HubErrorCode } from './hub-error.js';
export {
  COMMIT_HASH,
  type HubModelId,
  parseModelId,
  repoIdProblem,
  revisionProblem,
} from './model-reference.js';
export {
  type ResolvedModel,
  type ResolveModelReferenceOptions,
  resolveModelReference,
} from './resolve-model-reference.js';
