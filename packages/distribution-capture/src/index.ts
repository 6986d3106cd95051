export {
  type AlignStoreOptions,
  type AlignStoreSummary,
  alignedStoreIdentity,
  alignStore,
  checkAlignStores,
  VOCABULARY_MAP_FILE,
  vocabularyMapHash,
} from './align-store/align-store.js';
export {
  type CaptureDistributionsOptions,
  type CaptureStoreOptions,
  type CaptureSummary,
  captureDistributions,
} from './capture-distributions.js';
export {
  type CaptureIdentityOptions,
  createCaptureIdentity,
  createLocalCaptureIdentity,
} from './capture-identity.js';
export {
  type CaptureExample,
  type CaptureLoopOptions,
  type CaptureProgressEvent,
  type CaptureWriter,
  captureIntoWriter,
  checkCaptureOptions,
} from './capture-into-writer.js';
export {
  type CaptureDataFileOptions,
  type CaptureDataFileSummary,
  captureDataFile,
} from './capture-local-model/capture-data-file.js';
export {
  type CaptureLocalModelOptions,
  type CaptureLocalModelSummary,
  captureLocalModel,
} from './capture-local-model/capture-local-model.js';
export {
  type CaptureRemoteModelOptions,
  type CaptureRemoteModelSummary,
  captureRemoteModel,
  type RemoteCaptureProgressEvent,
  remoteCaptureIdentity,
} from './capture-remote-model/capture-remote-model.js';
export { createLocalProvider, type LocalProviderOptions } from './local-provider/create-local-provider.js';
export type { LogitsProvider, ProviderOutput } from './logits-provider.js';
export { type LengthBatch, planLengthBatches } from './plan-length-batches.js';
export {
  createRemoteProvider,
  type RemoteProvider,
  type RemoteProviderOptions,
  type RemoteProviderStats,
} from './remote-provider/create-remote-provider.js';
export {
  detectUnsupportedEngine,
  type UnsupportedEngine,
} from './remote-provider/detect-unsupported-engine.js';
export { PROBE_TEXTS, type RemoteDialectName } from './remote-provider/remote-dialect.js';
export type { RemoteHttpStats } from './remote-provider/remote-http-client.js';
export { RemoteProviderError } from './remote-provider/remote-provider-error.js';
export { parseSglangGenerate } from './remote-provider/sglang-dialect.js';
export { parseVllmCompletion, VLLM_DEFAULT_MAX_LOGPROBS } from './remote-provider/vllm-dialect.js';
export { supervisedCrossEntropy } from './supervised-cross-entropy.js';
