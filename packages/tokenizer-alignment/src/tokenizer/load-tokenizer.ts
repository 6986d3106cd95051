import { createHash } from 'node:crypto';
import { join } from 'node:path';
import {
  FileFormatError,
  InvalidInputError,
  isFuseChatError,
  type SpaceMarkerConvention,
  type SpecialTokenIds,
  type TokenizerLike,
} from '@fusechat/core';
import { readInputFile } from '@fusechat/core/node';
import { Tokenizer } from '@huggingface/tokenizers';
import { detectSpaceMarker } from './detect-space-marker.js';

/** Paths of the two Hugging Face tokenizer files. */
export interface TokenizerFiles {
  /** Path of `tokenizer.json`. */
  readonly tokenizerJson: string;
  /** Path of `tokenizer_config.json` (special tokens, chat template); optional. */
  readonly tokenizerConfig?: string | undefined;
}

/** Contents of the two Hugging Face tokenizer files. */
export interface TokenizerContents {
  /** Raw bytes or text of `tokenizer.json` (hashed as given). */
  readonly tokenizerJson: string | Uint8Array;
  /** `tokenizer_config.json` as text or as a parsed object. */
  readonly tokenizerConfig?: string | Uint8Array | Record<string, unknown> | undefined;
  /** Where the contents came from, for error messages. */
  readonly source?: string | undefined;
}

export interface LoadTokenizerOptions {
  /** Overrides the convention detected from `tokenizer.json` (needed when detection fails). */
  readonly spaceMarker?: SpaceMarkerConvention | undefined;
}

/**
 * Loads a Hugging Face tokenizer (`tokenizer.json` + `tokenizer_config.json`) from a model
 * directory or from explicit file paths, as a core `TokenizerLike` backed by
 * `@huggingface/tokenizers`. `hash` is the SHA-256 of the `tokenizer.json` bytes; the space
 * marker comes from the tokenizer's own definition ({@link detectSpaceMarker}); special tokens
 * come from `tokenizer_config.json` (`bos_token`, `eos_token`, `unk_token`, `pad_token` as
 * strings or `{ content }` objects; `unk` falls back to the model's `unk_token`).
 *
 * @example
 * ```ts
 * const mistral = await loadTokenizer('models/Mistral-7B-v0.1');
 * mistral.spaceMarker;              // 'sentencepiece'
 * mistral.encode('Hello world');    // [1, 22557, 1526]
 * ```
 */
/** Largest tokenizer.json / tokenizer_config.json read (the largest real ones are ~35 MB). */
const MAX_TOKENIZER_FILE_BYTES = 512 * 1024 * 1024;

export async function loadTokenizer(
  dirOrFiles: string | TokenizerFiles,
  options: LoadTokenizerOptions = {},
): Promise<TokenizerLike> {
  const files: TokenizerFiles =
    typeof dirOrFiles === 'string'
      ? {
          tokenizerJson: join(dirOrFiles, 'tokenizer.json'),
          tokenizerConfig: join(dirOrFiles, 'tokenizer_config.json'),
        }
      : dirOrFiles;
  const tokenizerJson = await readInputFile(files.tokenizerJson, {
    what: 'tokenizer.json',
    maxBytes: MAX_TOKENIZER_FILE_BYTES,
    notFoundCode: 'TOKENIZER_NOT_FOUND',
  });
  let tokenizerConfig: Uint8Array | undefined;
  if (files.tokenizerConfig !== undefined) {
    try {
      tokenizerConfig = await readInputFile(files.tokenizerConfig, {
        what: 'tokenizer_config.json',
        maxBytes: MAX_TOKENIZER_FILE_BYTES,
        notFoundCode: 'TOKENIZER_NOT_FOUND',
      });
    } catch (cause) {
      // The config is optional when loading a directory, required when named explicitly.
      if (typeof dirOrFiles !== 'string' || !isFuseChatError(cause, 'TOKENIZER_NOT_FOUND')) throw cause;
    }
  }
  return createTokenizer({ tokenizerJson, tokenizerConfig, source: files.tokenizerJson }, options);
}

/**
 * Builds a `TokenizerLike` from the contents of `tokenizer.json` and `tokenizer_config.json`
 * (synchronous counterpart of {@link loadTokenizer}).
 *
 * @example
 * ```ts
 * const tokenizer = createTokenizer({ tokenizerJson: readFileSync('tokenizer.json') });
 * ```
 */
export function createTokenizer(
  contents: TokenizerContents,
  options: LoadTokenizerOptions = {},
): TokenizerLike {
  const source = contents.source ?? 'tokenizer.json';
  const bytes =
    typeof contents.tokenizerJson === 'string'
      ? Buffer.from(contents.tokenizerJson, 'utf8')
      : contents.tokenizerJson;
  const json = parseJson(bytes, source) as Record<string, unknown>;
  if (json === null || typeof json !== 'object' || typeof json.model !== 'object' || json.model === null) {
    throw new FileFormatError(
      'TOKENIZER_INVALID',
      `${source} has no "model" section; is it a Hugging Face tokenizer.json?`,
      {
        path: source,
      },
    );
  }
  const config: Record<string, unknown> =
    contents.tokenizerConfig === undefined
      ? {}
      : typeof contents.tokenizerConfig === 'string' || contents.tokenizerConfig instanceof Uint8Array
        ? (parseJson(contents.tokenizerConfig, 'tokenizer_config.json') as Record<string, unknown>)
        : contents.tokenizerConfig;
  const spaceMarker = options.spaceMarker ?? detectSpaceMarker(json, source);
  if (spaceMarker !== 'sentencepiece' && spaceMarker !== 'byte-level') {
    throw new InvalidInputError(`unknown space-marker convention ${JSON.stringify(spaceMarker)}`, {
      code: 'TOKENIZER_UNKNOWN_MARKER',
      field: 'spaceMarker',
    });
  }
  let tokenizer: Tokenizer;
  try {
    tokenizer = new Tokenizer(json, config);
  } catch (cause) {
    throw new FileFormatError(
      'TOKENIZER_INVALID',
      `${source}: @huggingface/tokenizers rejected it: ${describe(cause)}`,
      {
        path: source,
        cause,
      },
    );
  }
  const vocabulary = tokenizer.get_vocab(true);
  let vocabSize = 0;
  for (const id of vocabulary.values()) if (id + 1 > vocabSize) vocabSize = id + 1;

  const specialId = (name: 'bos_token' | 'eos_token' | 'unk_token' | 'pad_token'): number | undefined => {
    let content = tokenContent(config[name]);
    if (content === undefined && name === 'unk_token') {
      content = tokenContent((json.model as Record<string, unknown>).unk_token);
    }
    if (content === undefined) return undefined;
    const id = tokenizer.token_to_id(content);
    if (id === undefined) {
      throw new FileFormatError(
        'TOKENIZER_UNKNOWN_SPECIAL_TOKEN',
        `tokenizer_config.json names ${name} ${JSON.stringify(content)}, which is not in the vocabulary of ${source}`,
        { path: source, details: { token: content } },
      );
    }
    return id;
  };
  const specialTokens: SpecialTokenIds = Object.freeze({
    bos: specialId('bos_token'),
    eos: specialId('eos_token'),
    unk: specialId('unk_token'),
    pad: specialId('pad_token'),
  });
  const hash = createHash('sha256').update(bytes).digest('hex');

  return Object.freeze({
    vocabSize,
    specialTokens,
    spaceMarker,
    hash,
    chatTemplate: chatTemplateOf(config.chat_template),
    encode(text: string, encodeOptions: { addSpecialTokens?: boolean } = {}): number[] {
      return tokenizer.encode(text, { add_special_tokens: encodeOptions.addSpecialTokens ?? true }).ids;
    },
    decode(ids: readonly number[], decodeOptions: { skipSpecialTokens?: boolean } = {}): string {
      return tokenizer.decode([...ids], { skip_special_tokens: decodeOptions.skipSpecialTokens ?? false });
    },
    idToToken(id: number): string | undefined {
      return Number.isInteger(id) && id >= 0 && id < vocabSize ? tokenizer.id_to_token(id) : undefined;
    },
    tokenToId(token: string): number | undefined {
      return tokenizer.token_to_id(token);
    },
  });
}

function tokenContent(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (
    value !== null &&
    typeof value === 'object' &&
    typeof (value as { content?: unknown }).content === 'string'
  ) {
    return (value as { content: string }).content;
  }
  return undefined;
}

function chatTemplateOf(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) {
    const entries = value as { name?: unknown; template?: unknown }[];
    const chosen = entries.find((entry) => entry.name === 'default') ?? entries[0];
    return typeof chosen?.template === 'string' ? chosen.template : undefined;
  }
  return undefined;
}

function parseJson(bytes: string | Uint8Array, source: string): unknown {
  const text =
    typeof bytes === 'string'
      ? bytes
      : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new FileFormatError('TOKENIZER_INVALID_JSON', `${source} is not valid JSON: ${describe(cause)}`, {
      path: source,
      cause,
    });
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
