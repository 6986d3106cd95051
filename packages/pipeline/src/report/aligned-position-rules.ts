// The classifier lives beside the re-indexer in @fusechat/tokenizer-alignment (one implementation);
// reached by path until that package's index exports it — then import it from the package.
export {
  ALIGNED_POSITION_RULES,
  type AlignedPositionRule,
  alignedPositionRules,
} from '../../../tokenizer-alignment/src/distribution-alignment/aligned-position-rules.js';
