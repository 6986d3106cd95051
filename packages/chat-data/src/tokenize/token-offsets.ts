import { InvalidInputError, type TokenizerLike } from '@fusechat/core';

/** Character ranges of tokens in a text: token `t` covers `text.slice(starts[t], ends[t])`. */
export interface TokenOffsets {
  /** UTF-16 index where each token starts. */
  readonly starts: Int32Array;
  /** UTF-16 index where each token ends (exclusive); `== starts[t]` for a token the text lacks. */
  readonly ends: Int32Array;
  /**
   * How they were found: `walk` (the token strings spell the text), `align` (they spell a
   * normalised text, aligned with the original), `decode` (incremental decoding, aligned).
   */
  readonly method: 'walk' | 'align' | 'decode';
}

export interface TokenOffsetsOptions {
  /** `auto` (default) tries walk, align, decode in that order; the others force one method. */
  readonly method?: 'auto' | 'walk' | 'align' | 'decode' | undefined;
}

/**
 * Character offsets of `ids` (the encoding of `text`) in `text`, for tokenizers that do not
 * report offsets. A token that splits a character (byte-level pieces of an emoji) covers the
 * whole character, so neighbours may overlap; a token the text lacks (a BOS the tokenizer added)
 * is empty.
 *
 * Fast path: each token's bytes come from its vocabulary string (byte-level: the GPT-2
 * bytes↔unicode table; SentencePiece: `▁` = space, `<0xNN>` byte fallback, a leading `▁` the
 * text lacks is allowed; special tokens are their literal content) and are matched against the
 * text's UTF-8 bytes. When that walk fails (a normalizer changed the text, e.g. NFC), the text the
 * token strings spell is aligned with the original, character by character (case-insensitive),
 * resynchronising over the edited stretches, whose tokens cover the whole stretch. When the token
 * strings do not even spell valid UTF-8, the tokens are decoded incrementally and aligned the same way.
 *
 * @throws InvalidInputError `CHAT_OFFSETS_FAILED` when neither method can place the tokens.
 * @example
 * ```ts
 * const text = 'Hello world';
 * const { starts, ends } = tokenOffsets(tokenizer, tokenizer.encode(text, { addSpecialTokens: false }), text);
 * // starts [0, 5], ends [5, 11]: 'Hello', ' world'
 * ```
 */
export function tokenOffsets(
  tokenizer: TokenizerLike,
  ids: readonly number[],
  text: string,
  options: TokenOffsetsOptions = {},
): TokenOffsets {
  const method = options.method ?? 'auto';
  if (method === 'auto' || method === 'walk') {
    const walked = walkOffsets(tokenizer, ids, text);
    if (walked !== undefined) return walked;
    if (method === 'walk') {
      throw new InvalidInputError('the token strings do not spell the text (walk failed).', {
        code: 'CHAT_OFFSETS_FAILED',
      });
    }
  }
  if (method === 'auto' || method === 'align') {
    const spelled = spelledText(tokenizer, ids);
    if (spelled !== undefined) return alignedOffsets(spelled, text, 'align');
    if (method === 'align') {
      throw new InvalidInputError('the token strings do not spell valid UTF-8 text.', {
        code: 'CHAT_OFFSETS_FAILED',
      });
    }
  }
  return alignedOffsets(decodedText(tokenizer, ids), text, 'decode');
}

interface TokenInfo {
  /** Bytes the token stands for, by the vocabulary's convention. */
  readonly bytes: Uint8Array;
  /** The token string's own UTF-8 bytes, when they differ (added tokens are written literally). */
  readonly literal: Uint8Array | undefined;
  readonly special: boolean;
}

const infoCache = new WeakMap<TokenizerLike, Map<number, TokenInfo>>();

/**
 * Is `id` a special token: one that decoding with `skipSpecialTokens` removes (added special
 * tokens such as `<|im_end|>`, `<|eot_id|>`), or the tokenizer's bos/eos/pad/unk.
 *
 * @example
 * ```ts
 * isSpecialToken(qwen3, qwen3.tokenToId('<|im_end|>')!); // true
 * isSpecialToken(qwen3, qwen3.tokenToId('Hello')!);      // false
 * ```
 */
export function isSpecialToken(tokenizer: TokenizerLike, id: number): boolean {
  return tokenInfo(tokenizer, id).special;
}

function tokenInfo(tokenizer: TokenizerLike, id: number): TokenInfo {
  let cache = infoCache.get(tokenizer);
  if (cache === undefined) {
    cache = new Map();
    infoCache.set(tokenizer, cache);
  }
  const cached = cache.get(id);
  if (cached !== undefined) return cached;
  const token = tokenizer.idToToken(id) ?? '';
  const literal = Buffer.from(token, 'utf8');
  const bytes = tokenizer.spaceMarker === 'byte-level' ? byteLevelBytes(token) : sentencePieceBytes(token);
  const { bos, eos, pad, unk } = tokenizer.specialTokens;
  const special =
    id === bos ||
    id === eos ||
    id === pad ||
    id === unk ||
    (tokenizer.decode([id], { skipSpecialTokens: true }) === '' && tokenizer.decode([id]) !== '');
  const info: TokenInfo = { bytes, literal: literal.equals(bytes) ? undefined : literal, special };
  cache.set(id, info);
  return info;
}

let byteDecoder: Map<string, number> | undefined;

/** GPT-2's bytes_to_unicode table, inverted: the character that stands for each byte → the byte. */
function byteLevelDecoder(): Map<string, number> {
  if (byteDecoder !== undefined) return byteDecoder;
  const bytes: number[] = [];
  for (let b = 33; b <= 126; b++) bytes.push(b);
  for (let b = 161; b <= 172; b++) bytes.push(b);
  for (let b = 174; b <= 255; b++) bytes.push(b);
  const chars = [...bytes];
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    if (!bytes.includes(b)) {
      bytes.push(b);
      chars.push(256 + extra++);
    }
  }
  byteDecoder = new Map(bytes.map((byte, index) => [String.fromCodePoint(chars[index]!), byte]));
  return byteDecoder;
}

function byteLevelBytes(token: string): Uint8Array {
  const decoder = byteLevelDecoder();
  const out: number[] = [];
  for (const char of token) {
    const byte = decoder.get(char);
    if (byte !== undefined) out.push(byte);
    else out.push(...Buffer.from(char, 'utf8'));
  }
  return Uint8Array.from(out);
}

function sentencePieceBytes(token: string): Uint8Array {
  const fallback = /^<0x([0-9A-Fa-f]{2})>$/.exec(token);
  if (fallback !== null) return Uint8Array.of(Number.parseInt(fallback[1]!, 16));
  return Buffer.from(token.replaceAll('▁', ' '), 'utf8');
}

function matchesAt(haystack: Uint8Array, at: number, needle: Uint8Array, from = 0): boolean {
  if (at + needle.length - from > haystack.length) return false;
  for (let k = from; k < needle.length; k++) if (haystack[at + k - from] !== needle[k]) return false;
  return true;
}

function walkOffsets(
  tokenizer: TokenizerLike,
  ids: readonly number[],
  text: string,
): TokenOffsets | undefined {
  const bytes = Buffer.from(text, 'utf8');
  const startBytes = new Int32Array(ids.length);
  const endBytes = new Int32Array(ids.length);
  const sentencePiece = tokenizer.spaceMarker === 'sentencepiece';
  let position = 0;
  for (let t = 0; t < ids.length; t++) {
    const info = tokenInfo(tokenizer, ids[t]!);
    const candidates =
      info.literal === undefined
        ? [info.bytes]
        : info.special
          ? [info.literal, info.bytes]
          : [info.bytes, info.literal];
    let length = -1;
    for (const candidate of candidates) {
      if (candidate.length > 0 && matchesAt(bytes, position, candidate)) {
        length = candidate.length;
        break;
      }
    }
    // SentencePiece prepends `▁` to text that lacks a leading space (at the start, after specials).
    if (length === -1 && sentencePiece && info.bytes[0] === 0x20 && info.bytes.length > 1) {
      if (matchesAt(bytes, position, info.bytes, 1)) length = info.bytes.length - 1;
    }
    if (
      length === -1 &&
      (info.special || (sentencePiece && info.bytes.length === 1 && info.bytes[0] === 0x20))
    ) {
      length = 0; // a special token the text does not spell (added BOS/EOS), or a prepended lone `▁`
    }
    if (length === -1) return undefined;
    startBytes[t] = position;
    position += length;
    endBytes[t] = position;
  }
  if (position !== bytes.length) return undefined;
  const { floor, ceil } = byteToCharIndex(text, bytes.length);
  const starts = new Int32Array(ids.length);
  const ends = new Int32Array(ids.length);
  for (let t = 0; t < ids.length; t++) {
    starts[t] = floor[startBytes[t]!]!;
    ends[t] = endBytes[t] === startBytes[t] ? starts[t]! : ceil[endBytes[t]!]!;
  }
  return { starts, ends, method: 'walk' };
}

/** For each UTF-8 byte offset: the UTF-16 index of the character holding it (floor) or after it (ceil). */
function byteToCharIndex(text: string, byteLength: number): { floor: Int32Array; ceil: Int32Array } {
  const floor = new Int32Array(byteLength + 1);
  const ceil = new Int32Array(byteLength + 1);
  let byte = 0;
  let index = 0;
  for (const char of text) {
    const code = char.codePointAt(0)!;
    const utf8Length =
      code < 0x80 ? 1 : code < 0x800 ? 2 : code >= 0xd800 && code <= 0xdfff ? 3 : code < 0x10000 ? 3 : 4;
    for (let k = 0; k < utf8Length; k++) {
      floor[byte + k] = index;
      ceil[byte + k] = k === 0 ? index : index + char.length;
    }
    byte += utf8Length;
    index += char.length;
  }
  floor[byteLength] = text.length;
  ceil[byteLength] = text.length;
  return { floor, ceil };
}

/** A token's bytes: special tokens as their literal content, others by the vocabulary's convention. */
function spelledBytes(info: TokenInfo): Uint8Array {
  return info.special && info.literal !== undefined ? info.literal : info.bytes;
}

/**
 * The text the tokens spell (the normalised text), with each token's exact range in it, from the
 * token strings; undefined when they do not spell valid UTF-8 (not a byte-level or SentencePiece
 * vocabulary after all).
 */
function spelledText(tokenizer: TokenizerLike, ids: readonly number[]): Spelled | undefined {
  const chunks = ids.map((id) => spelledBytes(tokenInfo(tokenizer, id)));
  const bytes = Buffer.concat(chunks);
  const decoded = bytes.toString('utf8');
  if (!Buffer.from(decoded, 'utf8').equals(bytes)) return undefined;
  const { floor, ceil } = byteToCharIndex(decoded, bytes.length);
  const starts = new Int32Array(ids.length);
  const ends = new Int32Array(ids.length);
  let position = 0;
  chunks.forEach((chunk, t) => {
    starts[t] = floor[position]!;
    ends[t] = chunk.length === 0 ? starts[t]! : ceil[position + chunk.length]!;
    position += chunk.length;
  });
  return { decoded, starts, ends };
}

/**
 * The text the tokens decode to, each token's range in it, by streaming detokenisation (as
 * text-generation-inference does it): decode a small window that starts one emitted token back,
 * so decoders that strip a leading space see their context, and hold tokens back while they end
 * in a partial UTF-8 sequence. Slow (two decodes per token) and only as exact as the decoder is
 * (transformers' clean-up of " 's" moves a character between tokens); the last resort.
 */
function decodedText(tokenizer: TokenizerLike, ids: readonly number[]): Spelled {
  const starts = new Int32Array(ids.length);
  const ends = new Int32Array(ids.length);
  let decoded = '';
  let prefixOffset = 0;
  let readOffset = 0;
  let pending = 0;
  for (let t = 0; t < ids.length; t++) {
    // (`@huggingface/tokenizers` refuses to decode an empty list.)
    const prefixText = readOffset > prefixOffset ? tokenizer.decode(ids.slice(prefixOffset, readOffset)) : '';
    const newText = tokenizer.decode(ids.slice(prefixOffset, t + 1));
    // Decoders may also edit the context (transformers' clean-up turns " 's" into "'s"): then only
    // what follows the common prefix is this token's.
    let common = 0;
    while (common < prefixText.length && prefixText.charCodeAt(common) === newText.charCodeAt(common))
      common++;
    if (newText.length > common && !newText.endsWith('\uFFFD')) {
      const piece = newText.slice(common);
      for (let p = pending; p <= t; p++) {
        starts[p] = decoded.length;
        ends[p] = decoded.length + piece.length;
      }
      decoded += piece;
      prefixOffset = readOffset;
      readOffset = t + 1;
      pending = t + 1;
    } else if (newText === prefixText) {
      if (pending === t) pending = t + 1; // decodes to nothing: empty at the current position
      starts[t] = decoded.length;
      ends[t] = decoded.length;
    }
  }
  for (let p = pending; p < ids.length; p++) {
    starts[p] = decoded.length;
    ends[p] = decoded.length;
  }
  return { decoded, starts, ends };
}

interface Spelled {
  readonly decoded: string;
  readonly starts: Int32Array;
  readonly ends: Int32Array;
}

function alignedOffsets(spelled: Spelled, text: string, method: 'align' | 'decode'): TokenOffsets {
  const { startAt, endAt } = alignCharacters(spelled.decoded, text);
  const count = spelled.starts.length;
  const starts = new Int32Array(count);
  const ends = new Int32Array(count);
  for (let t = 0; t < count; t++) {
    starts[t] = startAt[spelled.starts[t]!]!;
    ends[t] =
      spelled.ends[t] === spelled.starts[t] ? starts[t]! : Math.max(starts[t]!, endAt[spelled.ends[t]!]!);
  }
  return { starts, ends, method };
}

const RESYNC_WINDOW = 4;
const RESYNC_MAX_SKIP = 32;

/**
 * Maps positions of `decoded` onto `text`: equal characters pair up; a stretch that differs (a
 * normalizer's edit) maps onto the whole differing stretch of `text`.
 */
function alignCharacters(decoded: string, text: string): { startAt: Int32Array; endAt: Int32Array } {
  const startAt = new Int32Array(decoded.length + 1);
  const endAt = new Int32Array(decoded.length + 1);
  const same = (i: number, j: number): boolean => {
    const a = decoded[i]!;
    const b = text[j]!;
    // A literal `▁` in the text is a space to SentencePiece.
    return a === b || a.toLowerCase() === b.toLowerCase() || (a === ' ' && b === '▁');
  };
  // In sync at (i, j): the next RESYNC_WINDOW characters agree, or, near the end, all the rest.
  const synced = (i: number, j: number): boolean => {
    const restDecoded = decoded.length - i;
    const restText = text.length - j;
    if (Math.min(restDecoded, restText) < RESYNC_WINDOW && restDecoded !== restText) return false;
    const window = Math.min(RESYNC_WINDOW, restDecoded, restText);
    for (let k = 0; k < window; k++) if (!same(i + k, j + k)) return false;
    return true;
  };
  let i = 0;
  let j = 0;
  while (i < decoded.length || j < text.length) {
    if (i < decoded.length && j < text.length && same(i, j)) {
      startAt[i] = j;
      endAt[i + 1] = j + 1;
      i++;
      j++;
      continue;
    }
    let next: [number, number] | undefined;
    for (let distance = 1; next === undefined && distance <= 2 * RESYNC_MAX_SKIP; distance++) {
      for (
        let skip = Math.max(0, distance - RESYNC_MAX_SKIP);
        skip <= Math.min(distance, RESYNC_MAX_SKIP);
        skip++
      ) {
        const ni = i + skip;
        const nj = j + distance - skip;
        if (ni <= decoded.length && nj <= text.length && synced(ni, nj)) {
          next = [ni, nj];
          break;
        }
      }
    }
    if (next === undefined) {
      throw new InvalidInputError(
        `cannot place the tokens in the text: the decoded tokens and the text differ at character ${j} (${JSON.stringify(text.slice(j, j + 20))} vs decoded ${JSON.stringify(decoded.slice(i, i + 20))}).`,
        { code: 'CHAT_OFFSETS_FAILED', details: { offset: j } },
      );
    }
    for (let b = i; b < next[0]; b++) startAt[b] = j;
    for (let b = i + 1; b <= next[0]; b++) endAt[b] = next[1];
    i = next[0];
    j = next[1];
  }
  startAt[decoded.length] = text.length;
  endAt[0] = 0;
  return { startAt, endAt };
}
