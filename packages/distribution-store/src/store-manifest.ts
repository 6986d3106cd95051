import { createHash } from 'node:crypto';
import { FileFormatError } from '@fusechat/core';
import type { IdCoding } from './block-codec.js';
import { canonicalJson } from './canonical-json.js';
import type { StoreIdentity } from './store-identity.js';

/** The format version this package writes; it reads this one and older ones. */
export const STORE_FORMAT_VERSION = 1;
/** The manifest's `format` field. */
export const STORE_FORMAT_NAME = 'fusechat-distribution-store';
/** Name of the manifest file inside a store directory. */
export const MANIFEST_FILE = 'manifest.json';

/** How top-k values are stored: `fp16` reproduces the fp16 rounding bit for bit; `quantized` is lossy. */
export type ValueEncoding = 'fp16' | 'quantized';
/** Block compressor (Node's built-in zlib). */
export type StoreCompression = 'brotli' | 'deflate' | 'none';

/** One committed shard: a data file of compressed blocks and its index file. */
export interface StoreShard {
  file: string;
  bytes: number;
  sha256: string;
  indexFile: string;
  indexBytes: number;
  indexSha256: string;
  /** Store index of the shard's first example. */
  firstExample: number;
  examples: number;
  tokens: number;
  blocks: number;
}

/** An example that was not stored as valid (NaN logits…), in the order it was flagged. */
export interface FlaggedExample {
  id: string;
  reason: string;
}

/** `manifest.json` of a store (docs/formats.md, "Distribution store"). */
export interface StoreManifest {
  format: typeof STORE_FORMAT_NAME;
  formatVersion: number;
  identity: StoreIdentity;
  k: number;
  valueEncoding: ValueEncoding;
  /** Grid step (logits) of the quantized encoding; `null` for fp16. */
  quantizationStep: number | null;
  hasNextTokenLogProbs: boolean;
  vocabSize: number;
  /** Bits per token id in bit-packed streams: ⌈log2 vocabSize⌉ (at least 1). */
  idBits: number;
  /** Bits per row count: ⌈log2 (k + 1)⌉. */
  countBits: number;
  idCoding: IdCoding;
  compression: StoreCompression;
  /** Writer parameters that fix the block and shard boundaries (so a resumed write is byte-identical). */
  blockExamples: number;
  blockTargetBytes: number;
  shardTargetBytes: number;
  examples: number;
  tokens: number;
  supervisedTokens: number;
  flagged: FlaggedExample[];
  shards: StoreShard[];
  /** The caller's input cursor after the last committed record or flag. */
  cursor: number;
  complete: boolean;
  /** sha256 (hex) of the canonical JSON of every other field except `cursor` and `complete`. */
  contentHash: string;
}

/** The manifest bytes: canonical JSON (sorted keys, 2-space indent) and a final newline. */
export function serializeManifest(manifest: StoreManifest): string {
  return `${canonicalJson(manifest, 2)}\n`;
}

/** `contentHash` of a manifest (its own `contentHash`, `cursor` and `complete` are ignored). */
export function computeContentHash(
  manifest: Omit<StoreManifest, 'contentHash'> & { contentHash?: string },
): string {
  const { contentHash: _hash, cursor: _cursor, complete: _complete, ...content } = manifest;
  return createHash('sha256').update(canonicalJson(content)).digest('hex');
}

type Check = (value: unknown) => boolean;
const isString: Check = (v) => typeof v === 'string';
const isCount: Check = (v) => Number.isSafeInteger(v) && (v as number) >= 0;
const isPositive: Check = (v) => Number.isSafeInteger(v) && (v as number) > 0;
const isBoolean: Check = (v) => typeof v === 'boolean';
const isHex64: Check = (v) => typeof v === 'string' && /^[0-9a-f]{64}$/.test(v);
const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * Parses and validates `manifest.json` text. Throws a FileFormatError with a `STORE_…` code and
 * the path: `STORE_MANIFEST_MALFORMED` (not JSON, a missing or ill-typed field),
 * `STORE_FORMAT_TOO_NEW` (written by a newer version of this package).
 *
 * @example
 * ```ts
 * const manifest = parseStoreManifest(await readFile('store/manifest.json', 'utf8'), 'store/manifest.json');
 * ```
 */
export function parseStoreManifest(text: string, path: string): StoreManifest {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw malformed(path, `is not valid JSON (${(error as Error).message})`, error);
  }
  if (!isObject(value)) throw malformed(path, 'is not a JSON object');
  if (value.format !== STORE_FORMAT_NAME)
    throw malformed(path, `has format ${JSON.stringify(value.format)}, expected "${STORE_FORMAT_NAME}"`);
  if (!isPositive(value.formatVersion)) throw malformed(path, 'has no valid formatVersion');
  if ((value.formatVersion as number) > STORE_FORMAT_VERSION)
    throw new FileFormatError(
      'STORE_FORMAT_TOO_NEW',
      `${path}: store format version ${value.formatVersion} is newer than this reader's ${STORE_FORMAT_VERSION}; upgrade @fusechat/distribution-store (fusechat) to read it.`,
      { path, details: { formatVersion: value.formatVersion, supported: STORE_FORMAT_VERSION } },
    );
  const field = (
    name: string,
    check: Check,
    where: Record<string, unknown> = value as Record<string, unknown>,
    label = name,
  ) => {
    if (!check(where[name]))
      throw malformed(path, `field "${label}" is missing or invalid (${JSON.stringify(where[name])})`);
    return where[name];
  };
  field('k', isPositive);
  field('valueEncoding', (v) => v === 'fp16' || v === 'quantized');
  field('quantizationStep', (v) =>
    value.valueEncoding === 'quantized' ? typeof v === 'number' && v > 0 && Number.isFinite(v) : v === null,
  );
  field('hasNextTokenLogProbs', isBoolean);
  field('vocabSize', isPositive);
  field('idBits', (v) => Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 31);
  field('countBits', (v) => Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 16);
  field('idCoding', (v) => v === 'bitpacked' || v === 'varint');
  field('compression', (v) => v === 'brotli' || v === 'deflate' || v === 'none');
  for (const name of ['blockExamples', 'blockTargetBytes', 'shardTargetBytes']) field(name, isPositive);
  for (const name of ['examples', 'tokens', 'supervisedTokens', 'cursor']) field(name, isCount);
  field('complete', isBoolean);
  field('contentHash', isHex64);
  const identity = field('identity', isObject) as Record<string, unknown>;
  for (const part of ['model', 'tokenizer', 'data']) field(part, isObject, identity, `identity.${part}`);
  field('name', isString, identity.model as Record<string, unknown>, 'identity.model.name');
  field('configHash', isString, identity.model as Record<string, unknown>, 'identity.model.configHash');
  field('hash', isString, identity.tokenizer as Record<string, unknown>, 'identity.tokenizer.hash');
  field(
    'vocabSize',
    isPositive,
    identity.tokenizer as Record<string, unknown>,
    'identity.tokenizer.vocabSize',
  );
  field('hash', isString, identity.data as Record<string, unknown>, 'identity.data.hash');
  field('chatTemplateHash', (v) => v === null || isString(v), identity, 'identity.chatTemplateHash');
  field('capture', isObject, identity, 'identity.capture');
  if (identity.aligned !== undefined) {
    const aligned = field('aligned', isObject, identity, 'identity.aligned') as Record<string, unknown>;
    for (const name of ['pivotStore', 'sourceStore', 'vocabularyMapHash', 'mapping'])
      field(name, isString, aligned, `identity.aligned.${name}`);
  }
  const flagged = field('flagged', Array.isArray) as unknown[];
  flagged.forEach((entry, index) => {
    if (!isObject(entry) || !isString(entry.id) || !isString(entry.reason))
      throw malformed(path, `flagged[${index}] must be {"id": string, "reason": string}`);
  });
  const shards = field('shards', Array.isArray) as unknown[];
  let nextExample = 0;
  let tokens = 0;
  shards.forEach((entry, index) => {
    if (!isObject(entry)) throw malformed(path, `shards[${index}] is not an object`);
    const shardFile = (v: unknown) =>
      typeof v === 'string' && /^[A-Za-z0-9._-]+$/.test(v) && !v.startsWith('.');
    field('file', shardFile, entry, `shards[${index}].file`);
    field('indexFile', shardFile, entry, `shards[${index}].indexFile`);
    field('sha256', isHex64, entry, `shards[${index}].sha256`);
    field('indexSha256', isHex64, entry, `shards[${index}].indexSha256`);
    for (const name of ['bytes', 'indexBytes', 'firstExample', 'examples', 'tokens', 'blocks'])
      field(name, isCount, entry, `shards[${index}].${name}`);
    if (entry.firstExample !== nextExample)
      throw malformed(
        path,
        `shards[${index}].firstExample is ${entry.firstExample}, expected ${nextExample}`,
      );
    nextExample += entry.examples as number;
    tokens += entry.tokens as number;
  });
  if (nextExample !== value.examples || tokens !== value.tokens)
    throw malformed(
      path,
      `the shards hold ${nextExample} examples and ${tokens} tokens, the manifest says ${value.examples} and ${value.tokens}`,
    );
  const manifest = value as unknown as StoreManifest;
  if (computeContentHash(manifest) !== manifest.contentHash)
    throw malformed(path, 'contentHash does not match the manifest content (was it edited by hand?)');
  return manifest;
}

function malformed(path: string, problem: string, cause?: unknown): FileFormatError {
  return new FileFormatError(
    'STORE_MANIFEST_MALFORMED',
    `${path} ${problem}. The store manifest is damaged; re-run the capture into a new directory.`,
    { path, cause },
  );
}
