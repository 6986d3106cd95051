export { createFileHasher, type FileHasher, hashValue, sha256File } from './hash-inputs.js';
export {
  type OpenRunDirectory,
  openRunDirectory,
  type PipelineRecord,
  pipelineConfigHash,
} from './open-run-directory.js';
export { RunDirectoryMismatchError } from './run-directory-error.js';
export {
  type AlignLayout,
  type AlignmentInputs,
  type CaptureLayout,
  CONTROL_NAME,
  MERGED_NAME,
  type RunLayout,
  runLayout,
  STAGE_FILE,
  type TrainLayout,
} from './run-layout.js';
export {
  readStageManifest,
  STAGE_FORMAT_VERSION,
  type StageManifest,
  writeStageManifest,
} from './stage-manifest.js';
export { writeJsonAtomic, writeTextAtomic } from './write-json-atomic.js';
