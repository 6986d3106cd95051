export {
  type ChatMessage,
  type ChatRole,
  type DataExample,
  IGNORE_LABEL,
} from './data/data-example.js';
export {
  type LineLocation,
  type ParsedDataLine,
  parseDataLine,
  SHAREGPT_ROLES,
} from './data/parse-data-line.js';
export {
  type DataFileCounts,
  type DataFileReader,
  DEFAULT_MAX_LINE_BYTES,
  type ReadDataFileOptions,
  readDataFile,
} from './data/read-data-file.js';
export { hashFile, hashText } from './hash/hash-file.js';
export { loadChatTemplate } from './render/load-chat-template.js';
export { type RenderChatOptions, type RenderedChat, renderChat } from './render/render-chat.js';
export { templateEndOfTurn } from './render/template-end-of-turn.js';
export {
  isSpecialToken,
  type TokenOffsets,
  type TokenOffsetsOptions,
  tokenOffsets,
} from './tokenize/token-offsets.js';
export {
  type TokenizedExample,
  type TokenizeExampleOptions,
  type TruncationPolicy,
  tokenizeExample,
} from './tokenize/tokenize-example.js';
