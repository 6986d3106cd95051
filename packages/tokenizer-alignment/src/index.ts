export { alignCaptureRecord, tokenStrings } from './distribution-alignment/align-capture-record.js';
export {
  type AlignDistributionsInput,
  type AlignedRowOrigin,
  alignDistributions,
  ONE_HOT_LOGIT,
} from './distribution-alignment/align-distributions.js';
export {
  ALIGNED_POSITION_RULES,
  type AlignedPositionRule,
  alignedPositionRules,
} from './distribution-alignment/aligned-position-rules.js';
export { editDistance } from './edit-distance/edit-distance.js';
export { alignTokens, type TokenAlignmentMethod } from './sequence-alignment/align-tokens.js';
export { alignByCharacterOffsets } from './sequence-alignment/character-offsets/align-by-character-offsets.js';
export { dtwAlign } from './sequence-alignment/dtw/dtw-align.js';
export {
  createDtwAligner,
  type DtwAligner,
  type TokenAlignmentMarkers,
} from './sequence-alignment/dtw/dtw-aligner.js';
export {
  resolveSpaceMarker,
  type SpaceMarkerOption,
  stripSpaceMarker,
  swapSpaceMarker,
} from './token-strings/space-marker.js';
export { detectSpaceMarker } from './tokenizer/detect-space-marker.js';
export {
  createTokenizer,
  type LoadTokenizerOptions,
  loadTokenizer,
  type TokenizerContents,
  type TokenizerFiles,
} from './tokenizer/load-tokenizer.js';
export {
  type BuildVocabularyMapOptions,
  buildVocabularyMap,
} from './vocabulary-mapping/build-vocabulary-map.js';
export { exactMapper } from './vocabulary-mapping/exact/exact-mapper.js';
export { minEditDistanceMapper } from './vocabulary-mapping/min-edit-distance/min-edit-distance-mapper.js';
export {
  type CoAlignmentCounts,
  countCoAlignments,
  statisticsMapper,
} from './vocabulary-mapping/statistics/statistics-mapper.js';
export {
  checkVocabularyMap,
  parseVocabularyMap,
  type SerializedVocabularyMap,
  serializeVocabularyMap,
  type VocabularyMap,
  vocabularyTokens,
} from './vocabulary-mapping/vocabulary-map.js';
export type {
  CoTokenizedText,
  VocabularyMapper,
  VocabularyMappingRequest,
} from './vocabulary-mapping/vocabulary-mapper.js';
export {
  builtinVocabularyMappers,
  createVocabularyMapperRegistry,
  type VocabularyMapperRegistry,
} from './vocabulary-mapping/vocabulary-mapper-registry.js';
