import { InvalidInputError } from '@fusechat/core';
import { resolveSpaceMarker } from '../../token-strings/space-marker.js';
import type { TokenAlignmentMarkers } from '../dtw/dtw-aligner.js';

/**
 * Aligns two tokenisations of the same text by where their tokens end in the text: a linear-time
 * alternative to {@link dtwAlign} (not the FuseChat reference semantics). Tokens are decoded to
 * UTF-8 bytes (byte-level vocabularies through the GPT-2 byte table, SentencePiece-style ones with
 * `▁` as a space and `<0xNN>` as raw bytes) and whitespace is skipped, so the two conventions'
 * ways of writing spaces and newlines do not matter. A two-pointer walk then advances whichever
 * token ends first (both on a tie), which yields a monotone path covering every position of both
 * sequences, in the same output form as `dtwAlign`. Special tokens occupy no text: by default
 * whole-token tags such as `<s>`, `</s>`, `<unk>` and `<|im_start|>` (see `isSpecialToken`).
 *
 * @example
 * ```ts
 * alignByCharacterOffsets(['ĠHello', 'Ġworld'], ['▁Hel', 'lo', '▁world'], {
 *   sourceMarker: 'byte-level',
 *   pivotMarker: 'sentencepiece',
 * }); // [[0], [0], [1]]
 * ```
 */
export function alignByCharacterOffsets(
  sourceTokens: readonly string[],
  pivotTokens: readonly string[],
  options: TokenAlignmentMarkers & { isSpecialToken?: (token: string) => boolean },
): number[][] {
  const isSpecial = options.isSpecialToken ?? looksSpecial;
  const sourceMarker = resolveSpaceMarker(options.sourceMarker, 'sourceMarker');
  const pivotMarker = resolveSpaceMarker(options.pivotMarker, 'pivotMarker');
  const sourceEnds = tokenEnds(sourceTokens, sourceMarker, 'sourceTokens', isSpecial);
  const pivotEnds = tokenEnds(pivotTokens, pivotMarker, 'pivotTokens', isSpecial);
  const n = sourceTokens.length;
  const m = pivotTokens.length;
  if (n === 0 && m === 0) return [];
  if (n === 0 || m === 0) {
    throw new InvalidInputError(
      `cannot align an empty ${n === 0 ? 'source' : 'pivot'} sequence with a non-empty one`,
      {
        code: 'ALIGNMENT_EMPTY_SEQUENCE',
        field: n === 0 ? 'sourceTokens' : 'pivotTokens',
      },
    );
  }
  const aligned: number[][] = Array.from({ length: m }, () => []);
  let i = 0;
  let j = 0;
  aligned[0]!.push(0);
  while (i < n - 1 || j < m - 1) {
    if (i === n - 1) j++;
    else if (j === m - 1) i++;
    else if (sourceEnds[i]! < pivotEnds[j]!) i++;
    else if (pivotEnds[j]! < sourceEnds[i]!) j++;
    else {
      i++;
      j++;
    }
    aligned[j]!.push(i);
  }
  return aligned;
}

/** `<s>`, `</s>`, `<unk>`, `<pad>`, `<|…|>`: whole-token tags that stand for no text. */
function looksSpecial(token: string): boolean {
  return /^<\/?(s|unk|pad|mask|bos|eos)>$/.test(token) || /^<\|[^|]*\|>$/.test(token);
}

const WHITESPACE = new Set([0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x20]);
const encoder = new TextEncoder();
let byteLevelTable: Map<number, number> | undefined;

/** The inverse of GPT-2's `bytes_to_unicode`: vocabulary character → byte. */
function byteLevelBytes(): Map<number, number> {
  if (byteLevelTable !== undefined) return byteLevelTable;
  const table = new Map<number, number>();
  let extra = 0;
  for (let byte = 0; byte < 256; byte++) {
    const printable =
      (byte >= 33 && byte <= 126) || (byte >= 161 && byte <= 172) || (byte >= 174 && byte <= 255);
    table.set(printable ? byte : 256 + extra++, byte);
  }
  byteLevelTable = table;
  return table;
}

/** Cumulative count of non-whitespace text bytes at the end of each token. */
function tokenEnds(
  tokens: readonly string[],
  marker: string,
  field: string,
  isSpecial: (token: string) => boolean,
): Int32Array {
  const ends = new Int32Array(tokens.length);
  const byteLevel = marker === 'Ġ';
  const table = byteLevel ? byteLevelBytes() : undefined;
  let total = 0;
  const countBytes = (text: string) => {
    for (const byte of encoder.encode(text)) if (!WHITESPACE.has(byte)) total++;
  };
  tokens.forEach((token, position) => {
    if (typeof token !== 'string') {
      throw new InvalidInputError(`${field}[${position}] is not a token string`, {
        code: 'ALIGNMENT_INVALID_TOKEN',
        field: `${field}[${position}]`,
      });
    }
    if (isSpecial(token)) {
      // occupies no text
    } else if (table !== undefined) {
      for (const char of token) {
        const byte = table.get(char.codePointAt(0)!);
        if (byte === undefined) countBytes(char);
        else if (!WHITESPACE.has(byte)) total++;
      }
    } else if (/^<0x[0-9A-Fa-f]{2}>$/.test(token)) {
      if (!WHITESPACE.has(Number.parseInt(token.slice(3, 5), 16))) total++;
    } else {
      countBytes(token.replaceAll(marker, ' '));
    }
    ends[position] = total;
  });
  return ends;
}
