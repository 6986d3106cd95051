export { BitReader, BitWriter, bitWidth, packedBytes } from './bit-packing.js';
export { type BlockLayout, decodeBlock, type IdCoding } from './block-codec.js';
export { canonicalJson } from './canonical-json.js';
export { createStoreWriter, type StoreWriter, type StoreWriterOptions } from './create-store-writer.js';
export { type DumpedRecord, dumpRecord, dumpStore, inspectStore, type StoreSummary } from './dump-store.js';
export { float16Bits, float16FromKey, float16Key, float16Value } from './float16.js';
export type { StoreFileSystem } from './io.js';
export { type DistributionStore, type OpenStoreOptions, openStore } from './open-store.js';
export {
  checkStoreIdentity,
  type IdentityDifference,
  identityDifferences,
  type StoreIdentity,
  type StoreIdentityExpectation,
} from './store-identity.js';
export {
  computeContentHash,
  type FlaggedExample,
  MANIFEST_FILE,
  parseStoreManifest,
  STORE_FORMAT_NAME,
  STORE_FORMAT_VERSION,
  type StoreCompression,
  type StoreManifest,
  type StoreShard,
  type ValueEncoding,
} from './store-manifest.js';
