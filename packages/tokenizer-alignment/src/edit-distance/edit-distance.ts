import levenshtein from 'fast-levenshtein';

const FIRST_PRIVATE_USE = 0xe000;
const LAST_PRIVATE_USE = 0xf8ff;

/**
 * Levenshtein distance counted in Unicode code points (DESIGN.md §3), not UTF-16 units: an
 * emoji is one character. Strings inside the Basic Multilingual Plane go straight to
 * fast-levenshtein; when either string holds astral characters, those are renamed to private-use
 * BMP characters that occur in neither string first, which keeps the distance exact.
 *
 * @example
 * ```ts
 * editDistance('kitten', 'sitting'); // 3
 * editDistance('😀a', 'a');          // 1 (fast-levenshtein alone says 2)
 * ```
 */
export function editDistance(a: string, b: string): number {
  if (!hasSurrogate(a) && !hasSurrogate(b)) return levenshtein.get(a, b);
  const used = new Set<number>();
  for (const text of [a, b]) for (const char of text) used.add(char.codePointAt(0)!);
  const renamed = new Map<number, string>();
  let next = FIRST_PRIVATE_USE;
  const rename = (text: string): string => {
    let out = '';
    for (const char of text) {
      const code = char.codePointAt(0)!;
      if (code <= 0xffff) {
        out += char;
        continue;
      }
      let replacement = renamed.get(code);
      if (replacement === undefined) {
        while (used.has(next)) next++;
        if (next > LAST_PRIVATE_USE) return '';
        replacement = String.fromCharCode(next++);
        renamed.set(code, replacement);
      }
      out += replacement;
    }
    return out;
  };
  const renamedA = rename(a);
  const renamedB = rename(b);
  if (next > LAST_PRIVATE_USE) return codePointEditDistance(Array.from(a), Array.from(b));
  return levenshtein.get(renamedA, renamedB);
}

/** `true` when the string holds a UTF-16 surrogate (so its length is not its code point count). */
export function hasSurrogate(text: string): boolean {
  for (let index = 0; index < text.length; index++) {
    const unit = text.charCodeAt(index);
    if (unit >= 0xd800 && unit <= 0xdfff) return true;
  }
  return false;
}

function codePointEditDistance(a: readonly string[], b: readonly string[]): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j]!;
      row[j] = Math.min(above + 1, row[j - 1]! + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length]!;
}
