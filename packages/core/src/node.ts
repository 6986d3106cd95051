// Node-only helpers (file system); the main entry of @fusechat/core stays platform-neutral.

export {
  acquireOutputLock,
  commitOutputDirectory,
  type OutputDirectoryCheck,
  type OutputLock,
  type OutputProblem,
  outputDirectoryProblems,
  removeStalePartials,
} from './node/output-directory.js';
export {
  DEFAULT_MAX_INPUT_FILE_BYTES,
  inputFileError,
  openInputFile,
  type ReadInputFileOptions,
  readInputFile,
  readInputText,
} from './node/read-input-file.js';
