/**
 * Tables the nearest-token search works on: every candidate (pivot) string as code points, in
 * ascending pivot-id order, grouped by length. Plain typed arrays so they cross to worker
 * threads by structured clone.
 */
export interface NearestTokenTables {
  /** Code points of candidate `k` are `codes[offsets[k]..offsets[k + 1])`. */
  readonly codes: Int32Array;
  readonly offsets: Int32Array;
  /**
   * 128-bit character-set signature of each candidate, 4 words per candidate: bit `hash(c)` set
   * for each of its characters (see {@link characterSignature}).
   */
  readonly signatures: Int32Array;
  /** Candidates of length `L` are `byLength[lengthStarts[L]..lengthStarts[L + 1])`, ascending. */
  readonly lengthStarts: Int32Array;
  readonly byLength: Int32Array;
  /** OR of the signatures of `byLength[16·b..16·b + 16)`, 4 words per block `b`. */
  readonly blockSignatures: Int32Array;
}

/** A batch of query strings as code points. */
export interface NearestTokenQueries {
  readonly codes: Int32Array;
  readonly offsets: Int32Array;
}

/**
 * For each query, the index of the candidate with the smallest code-point Levenshtein distance,
 * the lowest index on ties — exactly the brute-force argmin, found without looking at most pairs:
 * candidates are visited by increasing length difference (a lower bound of the distance) and
 * skipped when that bound, or the bound from characters one string has and the other lacks
 * (`popcount` of the signatures' difference), cannot beat the best so far; the remaining
 * distances are computed with an early exit at the current best.
 *
 * Self-contained (no outer references) because worker threads run it from its source text.
 */
export function nearestTokenKernel(tables: NearestTokenTables, queries: NearestTokenQueries): Int32Array {
  const { codes, offsets, signatures, lengthStarts, byLength, blockSignatures } = tables;
  const maxLength = lengthStarts.length - 2;
  const queryCount = queries.offsets.length - 1;
  const result = new Int32Array(queryCount).fill(-1);
  let row = new Int32Array(256);

  const popcount = (x: number): number => {
    x -= (x >>> 1) & 0x55555555;
    x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
    return (((x + (x >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
  };

  const bounded = (
    a: Int32Array,
    aStart: number,
    aEnd: number,
    b: Int32Array,
    bStart: number,
    bEnd: number,
    limit: number,
  ): number => {
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
  };

  /** How many query characters have their signature bit among `word`'s bits. */
  const shared = (word: number, base: number): number => {
    let count = 0;
    while (word !== 0) {
      const lowest = word & -word;
      count += multiplicity[base + 31 - Math.clz32(lowest)]!;
      word ^= lowest;
    }
    return count;
  };
  const multiplicity = new Int32Array(128);
  // Myers' bit-parallel distance for queries of at most 32 code points: match masks per code point.
  const matchMasks = new Int32Array(0x110000);
  const myers = (queryLength: number, b: Int32Array, bStart: number, bEnd: number, limit: number): number => {
    const last = 1 << (queryLength - 1);
    let positive = -1;
    let negative = 0;
    let score = queryLength;
    for (let j = bStart; j < bEnd; j++) {
      let equal = matchMasks[b[j]!]!;
      const vertical = equal | negative;
      equal |= ((equal & positive) + positive) ^ positive;
      negative |= ~(equal | positive);
      positive &= equal;
      if (negative & last) score++;
      if (positive & last) score--;
      // The distance can fall by at most one per remaining character.
      if (score - (bEnd - j - 1) > limit) return limit + 1;
      negative = (negative << 1) | 1;
      positive = (positive << 1) | ~(vertical | negative);
      negative &= vertical;
    }
    return score;
  };
  const queryCodes = queries.codes;
  for (let q = 0; q < queryCount; q++) {
    const qStart = queries.offsets[q]!;
    const qEnd = queries.offsets[q + 1]!;
    const n = qEnd - qStart;
    let q0 = 0;
    let q1 = 0;
    let q2 = 0;
    let q3 = 0;
    multiplicity.fill(0);
    const bitParallel = n >= 1 && n <= 32;
    if (bitParallel) for (let k = qStart; k < qEnd; k++) matchMasks[queryCodes[k]!]! |= 1 << (k - qStart);
    for (let k = qStart; k < qEnd; k++) {
      const bit = Math.imul(queryCodes[k]!, 0x9e3779b1) >>> 25;
      multiplicity[bit]!++;
      if (bit < 32) q0 |= 1 << bit;
      else if (bit < 64) q1 |= 1 << (bit - 32);
      else if (bit < 96) q2 |= 1 << (bit - 64);
      else q3 |= 1 << (bit - 96);
    }
    let best = 0x3fffffff;
    let bestIndex = 0x7fffffff;
    for (let delta = 0; delta <= best; delta++) {
      const lower = n - delta;
      const upper = n + delta;
      if (lower < 0 && upper > maxLength) break;
      for (let side = 0; side < 2; side++) {
        const length = side === 0 ? lower : upper;
        if (length < 0 || length > maxLength || (side === 1 && delta === 0)) continue;
        const end = lengthStarts[length + 1]!;
        const longer = Math.max(n, length);
        let position = lengthStarts[length]!;
        while (position < end) {
          // Blocks of 16 consecutive entries share an OR-ed signature: one bound skips them all.
          const block = position >>> 4;
          const blockEnd = Math.min(end, (block + 1) << 4);
          const blockShared = Math.min(
            shared(q0 & blockSignatures[4 * block]!, 0) +
              shared(q1 & blockSignatures[4 * block + 1]!, 32) +
              shared(q2 & blockSignatures[4 * block + 2]!, 64) +
              shared(q3 & blockSignatures[4 * block + 3]!, 96),
            length,
          );
          const blockBound = Math.max(longer - blockShared, delta);
          if (blockBound > best || (blockBound === best && byLength[position]! > bestIndex)) {
            position = blockEnd;
            continue;
          }
          for (; position < blockEnd; position++) {
            const index = byLength[position]!;
            if (delta === best && index > bestIndex) break;
            const s0 = signatures[4 * index]!;
            const s1 = signatures[4 * index + 1]!;
            const s2 = signatures[4 * index + 2]!;
            const s3 = signatures[4 * index + 3]!;
            // Bag distance: only query characters whose bit the candidate has can be shared.
            const common = Math.min(
              shared(q0 & s0, 0) + shared(q1 & s1, 32) + shared(q2 & s2, 64) + shared(q3 & s3, 96),
              length,
            );
            let bound = Math.max(longer - common, delta);
            if (bound > best || (bound === best && index > bestIndex)) continue;
            const reverse = popcount(s0 & ~q0) + popcount(s1 & ~q1) + popcount(s2 & ~q2) + popcount(s3 & ~q3);
            if (reverse > bound) bound = reverse;
            if (bound > best || (bound === best && index > bestIndex)) continue;
            const limit = index < bestIndex ? best : best - 1;
            const distance = bitParallel
              ? myers(n, codes, offsets[index]!, offsets[index + 1]!, limit)
              : bounded(queryCodes, qStart, qEnd, codes, offsets[index]!, offsets[index + 1]!, limit);
            if (distance < best || (distance === best && index < bestIndex)) {
              best = distance;
              bestIndex = index;
            }
          }
          if (position < blockEnd) break;
        }
      }
    }
    if (bitParallel) for (let k = qStart; k < qEnd; k++) matchMasks[queryCodes[k]!] = 0;
    result[q] = bestIndex === 0x7fffffff ? -1 : bestIndex;
  }
  return result;
}

/**
 * Writes the 128-bit character-set signature of `codes[start..end)` into `out[4·index..4·index+4)`:
 * a character `c` sets bit `(c · 0x9e3779b1) >>> 25`. Two strings differ by at least as many
 * edits as one has signature bits the other lacks.
 */
export function characterSignature(
  codes: Int32Array,
  start: number,
  end: number,
  out: Int32Array,
  index: number,
): void {
  let q0 = 0;
  let q1 = 0;
  let q2 = 0;
  let q3 = 0;
  for (let k = start; k < end; k++) {
    const bit = Math.imul(codes[k]!, 0x9e3779b1) >>> 25;
    if (bit < 32) q0 |= 1 << bit;
    else if (bit < 64) q1 |= 1 << (bit - 32);
    else if (bit < 96) q2 |= 1 << (bit - 64);
    else q3 |= 1 << (bit - 96);
  }
  out[4 * index] = q0;
  out[4 * index + 1] = q1;
  out[4 * index + 2] = q2;
  out[4 * index + 3] = q3;
}
