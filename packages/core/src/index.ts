export type { CaptureRecord } from './capture-record.js';
export { closestName } from './closest-name.js';
export {
  FileFormatError,
  FuseChatError,
  IntegrityError,
  InvalidInputError,
  isFuseChatError,
  NumericalError,
  ShapeMismatchError,
  UnknownNameError,
} from './errors.js';
export {
  createConsoleLogger,
  createProgressPrinter,
  formatBytes,
  formatDuration,
  type Logger,
  type LogLevel,
  type ProgressCallback,
  type ProgressEvent,
  silentLogger,
} from './progress.js';
export { createRandom, hashString, type Random } from './random.js';
export {
  createSparseDistributions,
  EMPTY_SLOT,
  getRow,
  type SparseDistributions,
  setRow,
  validateSparseDistributions,
} from './sparse-distributions.js';
export {
  SPACE_MARKERS,
  type SpaceMarkerConvention,
  type SpecialTokenIds,
  type TokenizerLike,
} from './tokenizer.js';
