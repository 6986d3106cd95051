/**
 * Strings as arrays of Unicode code points, packed in one growable Int32Array, so that the hot
 * loops (DTW costs, vocabulary maps) compare integers and count astral characters once.
 * Internal: not part of the public API.
 */
export class CodePointTable {
  /** `offsets[k]..offsets[k + 1]` are the code points of string `k`. */
  offsets: Int32Array = new Int32Array(64);
  codes: Int32Array = new Int32Array(256);
  size = 0;

  add(text: string): number {
    const index = this.size;
    if (index + 2 > this.offsets.length) this.offsets = grow(this.offsets, index + 2);
    let end = this.offsets[index]!;
    if (end + text.length > this.codes.length) this.codes = grow(this.codes, end + text.length);
    for (let unit = 0; unit < text.length; unit++) {
      const code = text.codePointAt(unit)!;
      if (code > 0xffff) unit++;
      this.codes[end++] = code;
    }
    this.offsets[index + 1] = end;
    this.size = index + 1;
    return index;
  }

  length(index: number): number {
    return this.offsets[index + 1]! - this.offsets[index]!;
  }
}

function grow(array: Int32Array, needed: number): Int32Array {
  let size = array.length * 2;
  while (size < needed) size *= 2;
  const next = new Int32Array(size);
  next.set(array);
  return next;
}

let row = new Int32Array(64);

/**
 * Levenshtein distance between `a[aStart..aEnd)` and `b[bStart..bEnd)` (code points), giving up
 * as soon as the answer must exceed `limit`: then it returns some value `> limit`.
 */
export function boundedEditDistance(
  a: Int32Array,
  aStart: number,
  aEnd: number,
  b: Int32Array,
  bStart: number,
  bEnd: number,
  limit: number,
): number {
  // Common prefix and suffix cannot change the distance.
  while (aStart < aEnd && bStart < bEnd && a[aStart] === b[bStart]) {
    aStart++;
    bStart++;
  }
  while (aStart < aEnd && bStart < bEnd && a[aEnd - 1] === b[bEnd - 1]) {
    aEnd--;
    bEnd--;
  }
  const n = aEnd - aStart;
  const m = bEnd - bStart;
  if (n === 0) return m;
  if (m === 0) return n;
  if ((n > m ? n - m : m - n) > limit) return limit + 1;
  if (m + 1 > row.length) row = new Int32Array(Math.max(m + 1, row.length * 2));
  const r = row;
  for (let j = 0; j <= m; j++) r[j] = j;
  for (let i = 1; i <= n; i++) {
    const ai = a[aStart + i - 1]!;
    let diagonal = r[0]!;
    let left = i;
    r[0] = i;
    let rowMin = i;
    for (let j = 1; j <= m; j++) {
      const above = r[j]!;
      let value = diagonal + (ai === b[bStart + j - 1] ? 0 : 1);
      if (above + 1 < value) value = above + 1;
      if (left + 1 < value) value = left + 1;
      r[j] = value;
      left = value;
      diagonal = above;
      if (value < rowMin) rowMin = value;
    }
    if (rowMin > limit) return limit + 1;
  }
  return r[m]!;
}
