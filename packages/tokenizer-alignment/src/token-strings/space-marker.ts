import { InvalidInputError, SPACE_MARKERS, type SpaceMarkerConvention } from '@fusechat/core';

/**
 * How a caller names a vocabulary's space marker: a convention (`'sentencepiece'` → `▁`,
 * `'byte-level'` → `Ġ`) or the marker character itself.
 */
export type SpaceMarkerOption = SpaceMarkerConvention | (string & {});

/**
 * The marker string of a convention or marker option.
 *
 * Throws an {@link InvalidInputError} with code `TOKENIZER_UNKNOWN_MARKER` for a missing value
 * or any string that is neither a convention name nor a single character, so that a typo never
 * silently aligns with no marker at all.
 *
 * @example
 * ```ts
 * resolveSpaceMarker('byte-level'); // 'Ġ'
 * resolveSpaceMarker('▁');          // '▁'
 * ```
 */
export function resolveSpaceMarker(option: SpaceMarkerOption | undefined, field = 'marker'): string {
  if (option === 'sentencepiece' || option === 'byte-level')
    return SPACE_MARKERS[option as SpaceMarkerConvention];
  // A marker is one character: a longer string is a misspelt convention ('bytelevel'), which
  // would otherwise be taken as a marker that never occurs and silently strip nothing.
  if (typeof option !== 'string' || [...option].length !== 1) {
    throw new InvalidInputError(
      `${field}: unknown space-marker convention ${JSON.stringify(option)}; pass 'sentencepiece', 'byte-level' or the marker character itself (e.g. '▁' or 'Ġ').`,
      { code: 'TOKENIZER_UNKNOWN_MARKER', field },
    );
  }
  return option;
}

/**
 * A token without any occurrence of its vocabulary's space marker (DESIGN.md §3: `▁Hello` and
 * `ĠHello` both become `Hello`).
 *
 * @example
 * ```ts
 * stripSpaceMarker('▁Hello', '▁'); // 'Hello'
 * ```
 */
export function stripSpaceMarker(token: string, marker: string): string {
  return token.includes(marker) ? token.replaceAll(marker, '') : token;
}

/**
 * A token with every occurrence of one vocabulary's space marker replaced by another's, so that
 * a source token can be looked up in the pivot vocabulary.
 *
 * @example
 * ```ts
 * swapSpaceMarker('ĠHello', 'Ġ', '▁'); // '▁Hello'
 * ```
 */
export function swapSpaceMarker(token: string, fromMarker: string, toMarker: string): string {
  return fromMarker !== toMarker && token.includes(fromMarker)
    ? token.replaceAll(fromMarker, toMarker)
    : token;
}
