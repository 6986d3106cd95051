import { InvalidInputError } from '@fusechat/core';
import { boundedEditDistance, CodePointTable } from '../../edit-distance/code-points.js';
import {
  resolveSpaceMarker,
  type SpaceMarkerOption,
  stripSpaceMarker,
  swapSpaceMarker,
} from '../../token-strings/space-marker.js';

/** Space markers of the two token sequences being aligned. */
export interface TokenAlignmentMarkers {
  /** Convention (or marker character) of the source tokens. */
  readonly sourceMarker: SpaceMarkerOption;
  /** Convention (or marker character) of the pivot tokens. */
  readonly pivotMarker: SpaceMarkerOption;
}

/**
 * A reusable exact DTW aligner for one pair of space-marker conventions. It remembers every token
 * string it has seen (code points, marker-stripped forms), so aligning many sequences of the same
 * two vocabularies does that work once. Not thread-safe; create one per worker.
 */
export interface DtwAligner {
  /**
   * For each pivot position, the ascending source positions aligned to it (DESIGN.md §3).
   * Both sequences empty → `[]`; exactly one empty → `ALIGNMENT_EMPTY_SEQUENCE`.
   */
  align(sourceTokens: readonly string[], pivotTokens: readonly string[]): number[][];
  /** The DTW cost of one source token against one pivot token (DESIGN.md §3). */
  cost(sourceToken: string, pivotToken: string): number;
  /** The total cost of the last alignment (the DTW distance), or NaN before the first one. */
  readonly lastDistance: number;
}

const INF = 0x3fffffff;
/** Half-width (in pivot positions) of the band that finds the upper bound of the exact pass. */
const BAND_MARGIN = 12;
/** Half-width of the band around the first band's best path, which gives the final upper bound. */
const PATH_MARGIN = 24;
/** Largest dense per-call cost cache (entries); bigger calls compute costs uncached. */
const MAX_COST_CACHE = 1 << 22;
/**
 * Marks a pair not computed yet in the byte-wide cost cache (costs of 255 or more, i.e. tokens of
 * 255+ code points, are simply not cached). One byte per pair keeps the cache of a 2k-token call
 * (≈800 × 800 distinct tokens) in L2: with four bytes it spilt to L3 and the exact pass paid a
 * miss per cell.
 */
const UNKNOWN_COST = 255;

/**
 * Creates a {@link DtwAligner}. The alignment is exactly the textbook DTW of DESIGN.md §3 (full
 * `O(n·m)` matrix, backtrack with ties diag → left → up), computed faster but with identical
 * output:
 *
 * 1. costs are cached per distinct (source token, pivot token) pair of the call and computed
 *    with Myers' bit-parallel Levenshtein (code points), with an early exit at the cost that
 *    would no longer matter;
 * 2. a DTW restricted to a band around the character-length diagonal, then one restricted to a
 *    band around that DTW's best path, gives the cost `U` of one valid path, an upper bound of
 *    the optimum;
 * 3. the exact pass skips every cell whose prefix cost plus a consistent lower bound of the
 *    remaining cost exceeds `U`. The bound sums, over the later rows, each row token's smallest
 *    cost against any pivot token of the call (0 when an equal token exists), or counts the later
 *    columns whose token has no zero-cost partner, whichever is larger. A skipped cell can
 *    neither lie on an optimal path nor tie with one during the backtrack, so the backtrack takes
 *    the same steps as over the full matrix (see the proof sketch in README.md, "Exactness").
 *
 * @example
 * ```ts
 * const aligner = createDtwAligner({ sourceMarker: 'byte-level', pivotMarker: 'sentencepiece' });
 * aligner.align(['ĠHello', 'Ġworld'], ['▁Hel', 'lo', '▁world']); // [[0], [0], [1]]
 * ```
 */
export function createDtwAligner(markers: TokenAlignmentMarkers): DtwAligner {
  const sourceMarker = resolveSpaceMarker(markers.sourceMarker, 'sourceMarker');
  const pivotMarker = resolveSpaceMarker(markers.pivotMarker, 'pivotMarker');

  const table = new CodePointTable();
  // Keys shared by both sides: a stripped string, and a string in pivot-marker spelling.
  const strippedKeys = new Map<string, number>();
  const pivotSpellingKeys = new Map<string, number>();
  const keyOf = (keys: Map<string, number>, text: string): number => {
    let key = keys.get(text);
    if (key === undefined) {
      key = keys.size;
      keys.set(text, key);
    }
    return key;
  };

  interface Side {
    ids: Map<string, number>;
    /** Code points compared when neither stripped string is empty. */
    stripped: number[];
    /** Code points compared otherwise (source: marker swapped to the pivot's; pivot: raw). */
    spelled: number[];
    strippedEmpty: boolean[];
    strippedKey: number[];
    spelledKey: number[];
    stamp: Int32Array;
    local: Int32Array;
  }
  const newSide = (): Side => ({
    ids: new Map(),
    stripped: [],
    spelled: [],
    strippedEmpty: [],
    strippedKey: [],
    spelledKey: [],
    stamp: new Int32Array(1024),
    local: new Int32Array(1024),
  });
  const source = newSide();
  const pivot = newSide();

  const intern = (side: Side, token: string, isSource: boolean): number => {
    let id = side.ids.get(token);
    if (id !== undefined) return id;
    id = side.ids.size;
    side.ids.set(token, id);
    const stripped = stripSpaceMarker(token, isSource ? sourceMarker : pivotMarker);
    const spelled = isSource ? swapSpaceMarker(token, sourceMarker, pivotMarker) : token;
    side.stripped.push(table.add(stripped));
    side.spelled.push(table.add(spelled));
    side.strippedEmpty.push(stripped.length === 0);
    side.strippedKey.push(keyOf(strippedKeys, stripped));
    side.spelledKey.push(keyOf(pivotSpellingKeys, spelled));
    if (id >= side.stamp.length) {
      side.stamp = growInt32(side.stamp, id + 1);
      side.local = growInt32(side.local, id + 1);
    }
    return id;
  };

  /** Exact cost, or some value above `limit` when the cost exceeds it. */
  const pairCost = (s: number, p: number, limit = INF): number => {
    const useSpelled = source.strippedEmpty[s]! || pivot.strippedEmpty[p]!;
    const a = useSpelled ? source.spelled[s]! : source.stripped[s]!;
    const b = useSpelled ? pivot.spelled[p]! : pivot.stripped[p]!;
    const { offsets, codes } = table;
    return boundedEditDistance(
      codes,
      offsets[a]!,
      offsets[a + 1]!,
      codes,
      offsets[b]!,
      offsets[b + 1]!,
      limit,
    );
  };

  // Myers' bit-parallel distance for one source token against many pivot tokens (a DTW row):
  // match masks of the row's two forms (stripped, marker-swapped) are set once per row.
  // Indexed by code point (4.4 MB each), allocated on first use; all zero between rows.
  let strippedMasks = new Int32Array(0);
  let spelledMasks = new Int32Array(0);
  let rowSource = -1;
  let rowStrippedLength = 0;
  let rowSpelledLength = 0;
  const setMasks = (masks: Int32Array, index: number, value: boolean): number => {
    const start = table.offsets[index]!;
    const length = table.offsets[index + 1]! - start;
    if (length > 32) return -1;
    for (let k = 0; k < length; k++) {
      const code = table.codes[start + k]!;
      masks[code] = value ? masks[code]! | (1 << k) : 0;
    }
    return length;
  };
  const beginRow = (s: number): void => {
    if (rowSource === s) return;
    endRow();
    if (strippedMasks.length === 0) {
      strippedMasks = new Int32Array(0x110000);
      spelledMasks = new Int32Array(0x110000);
    }
    rowSource = s;
    rowStrippedLength = setMasks(strippedMasks, source.stripped[s]!, true);
    rowSpelledLength = setMasks(spelledMasks, source.spelled[s]!, true);
  };
  const endRow = (): void => {
    if (rowSource < 0) return;
    if (rowStrippedLength >= 0) setMasks(strippedMasks, source.stripped[rowSource]!, false);
    if (rowSpelledLength >= 0) setMasks(spelledMasks, source.spelled[rowSource]!, false);
    rowSource = -1;
  };
  /** {@link pairCost} of the current row's source token against pivot token `p`. */
  const rowCost = (p: number, limit: number): number => {
    const s = rowSource;
    const useSpelled = source.strippedEmpty[s]! || pivot.strippedEmpty[p]!;
    const length = useSpelled ? rowSpelledLength : rowStrippedLength;
    if (length <= 0) return pairCost(s, p, limit);
    const masks = useSpelled ? spelledMasks : strippedMasks;
    const b = useSpelled ? pivot.spelled[p]! : pivot.stripped[p]!;
    const codes = table.codes;
    const bStart = table.offsets[b]!;
    const bEnd = table.offsets[b + 1]!;
    const last = 1 << (length - 1);
    let positive = -1;
    let negative = 0;
    let score = length;
    for (let j = bStart; j < bEnd; j++) {
      let equal = masks[codes[j]!]!;
      const vertical = equal | negative;
      equal |= ((equal & positive) + positive) ^ positive;
      negative |= ~(equal | positive);
      positive &= equal;
      if (negative & last) score++;
      if (positive & last) score--;
      if (score - (bEnd - j - 1) > limit) return limit + 1;
      negative = (negative << 1) | 1;
      positive = (positive << 1) | ~(vertical | negative);
      negative &= vertical;
    }
    return score;
  };

  let callStamp = 0;
  let keyStamps = { sourceStripped: new Int32Array(0), sourceSpelled: new Int32Array(0) };
  let pivotKeyStamps = { stripped: new Int32Array(0), spelled: new Int32Array(0) };
  let values: Int32Array = new Int32Array(1 << 16);
  let rowStart: Int32Array = new Int32Array(0);
  let rowEnd: Int32Array = new Int32Array(0);
  let rowOffset: Int32Array = new Int32Array(0);
  let costCache = new Uint8Array(0);
  let lastDistance = Number.NaN;

  const align = (sourceTokens: readonly string[], pivotTokens: readonly string[]): number[][] => {
    checkTokens(sourceTokens, 'sourceTokens');
    checkTokens(pivotTokens, 'pivotTokens');
    const n = sourceTokens.length;
    const m = pivotTokens.length;
    if (n === 0 && m === 0) {
      lastDistance = 0;
      return [];
    }
    if (n === 0 || m === 0) {
      throw new InvalidInputError(
        `cannot align an empty ${n === 0 ? 'source' : 'pivot'} sequence with ${n === 0 ? m : n} ${n === 0 ? 'pivot' : 'source'} tokens; every position needs a partner`,
        { code: 'ALIGNMENT_EMPTY_SEQUENCE', field: n === 0 ? 'sourceTokens' : 'pivotTokens' },
      );
    }
    callStamp++;
    // Global ids, then dense per-call ids for the cost cache.
    const sourceIds = new Int32Array(n);
    const pivotIds = new Int32Array(m);
    for (let i = 0; i < n; i++) sourceIds[i] = intern(source, sourceTokens[i]!, true);
    for (let j = 0; j < m; j++) pivotIds[j] = intern(pivot, pivotTokens[j]!, false);
    const sourceLocal = new Int32Array(n);
    const pivotLocal = new Int32Array(m);
    let sourceUnique = 0;
    let pivotUnique = 0;
    for (let i = 0; i < n; i++) {
      const id = sourceIds[i]!;
      if (source.stamp[id] !== callStamp) {
        source.stamp[id] = callStamp;
        source.local[id] = sourceUnique++;
      }
      sourceLocal[i] = source.local[id]!;
    }
    for (let j = 0; j < m; j++) {
      const id = pivotIds[j]!;
      if (pivot.stamp[id] !== callStamp) {
        pivot.stamp[id] = callStamp;
        pivot.local[id] = pivotUnique++;
      }
      pivotLocal[j] = pivot.local[id]!;
    }
    const cacheSize = sourceUnique * pivotUnique;
    const useCache = cacheSize <= MAX_COST_CACHE;
    if (useCache) {
      if (costCache.length < cacheSize) costCache = new Uint8Array(Math.max(cacheSize, costCache.length * 2));
      costCache.fill(UNKNOWN_COST, 0, cacheSize);
    }
    // Code-point lengths of the stripped forms (0 when empty: the cost then compares other forms).
    const sourceStrippedLength = new Int32Array(sourceUnique);
    const pivotStrippedLength = new Int32Array(pivotUnique);
    for (let i = 0; i < n; i++)
      sourceStrippedLength[sourceLocal[i]!] = table.length(source.stripped[sourceIds[i]!]!);
    for (let j = 0; j < m; j++)
      pivotStrippedLength[pivotLocal[j]!] = table.length(pivot.stripped[pivotIds[j]!]!);

    // Lower bound of the remaining cost: a later row (column) whose token has no zero-cost partner
    // anywhere in the other sequence costs at least 1, whatever path is taken.
    const keyCount = Math.max(strippedKeys.size, pivotSpellingKeys.size);
    if (keyStamps.sourceStripped.length < keyCount) {
      const size = Math.max(keyCount, keyStamps.sourceStripped.length * 2);
      keyStamps = { sourceStripped: new Int32Array(size), sourceSpelled: new Int32Array(size) };
      pivotKeyStamps = { stripped: new Int32Array(size), spelled: new Int32Array(size) };
    }
    for (let i = 0; i < n; i++) {
      keyStamps.sourceStripped[source.strippedKey[sourceIds[i]!]!] = callStamp;
      keyStamps.sourceSpelled[source.spelledKey[sourceIds[i]!]!] = callStamp;
    }
    for (let j = 0; j < m; j++) {
      pivotKeyStamps.stripped[pivot.strippedKey[pivotIds[j]!]!] = callStamp;
      pivotKeyStamps.spelled[pivot.spelledKey[pivotIds[j]!]!] = callStamp;
    }
    // Rows whose token has no zero-cost partner: their exact minimum over the pivot's distinct
    // tokens, found with early-exit distances, tightens the bound further.
    const sourceFirst = new Int32Array(sourceUnique).fill(-1);
    const pivotFirst = new Int32Array(pivotUnique).fill(-1);
    for (let i = 0; i < n; i++) if (sourceFirst[sourceLocal[i]!]! < 0) sourceFirst[sourceLocal[i]!] = i;
    for (let j = 0; j < m; j++) if (pivotFirst[pivotLocal[j]!]! < 0) pivotFirst[pivotLocal[j]!] = j;
    // Row minima: one source token against the distinct pivot tokens (bit-parallel, per row),
    // visited by increasing length gap — a lower bound of the distance — until it cannot win.
    let longestPivot = 0;
    for (let v = 0; v < pivotUnique; v++)
      if (pivotStrippedLength[v]! > longestPivot) longestPivot = pivotStrippedLength[v]!;
    const byLengthStart = new Int32Array(longestPivot + 2);
    for (let v = 0; v < pivotUnique; v++) byLengthStart[pivotStrippedLength[v]! + 1]!++;
    for (let length = 1; length < byLengthStart.length; length++)
      byLengthStart[length]! += byLengthStart[length - 1]!;
    const byLength = new Int32Array(pivotUnique);
    const byLengthFill = byLengthStart.slice();
    for (let v = 0; v < pivotUnique; v++) byLength[byLengthFill[pivotStrippedLength[v]!]!++] = v;
    const rowMinimum = new Int32Array(sourceUnique);
    for (let u = 0; u < sourceUnique; u++) {
      const id = sourceIds[sourceFirst[u]!]!;
      const zeroPossible =
        pivotKeyStamps.stripped[source.strippedKey[id]!] === callStamp ||
        pivotKeyStamps.spelled[source.spelledKey[id]!] === callStamp;
      if (zeroPossible) continue;
      let best = INF;
      const visit = (v: number): void => {
        let value = useCache ? costCache[u * pivotUnique + v]! : UNKNOWN_COST;
        if (value === UNKNOWN_COST) {
          beginRow(id);
          value = rowCost(pivotIds[pivotFirst[v]!]!, best - 1);
          if (useCache && value < best && value < UNKNOWN_COST) costCache[u * pivotUnique + v] = value;
        }
        if (value < best) best = value;
      };
      const length = sourceStrippedLength[u]!;
      // Pivot tokens with an empty stripped form compare other strings: no length bound for them.
      for (let k = byLengthStart[0]!; k < byLengthStart[1]! && best > 1; k++) visit(byLength[k]!);
      if (length === 0) {
        for (let k = byLengthStart[1]!; k < pivotUnique && best > 1; k++) visit(byLength[k]!);
      } else {
        for (let gap = 0; gap < best && best > 1; gap++) {
          const shorter = length - gap;
          const longer = length + gap;
          if (shorter < 1 && longer > longestPivot) break;
          if (shorter >= 1 && shorter <= longestPivot) {
            for (let k = byLengthStart[shorter]!; k < byLengthStart[shorter + 1]! && best > 1; k++)
              visit(byLength[k]!);
          }
          if (gap > 0 && longer <= longestPivot) {
            for (let k = byLengthStart[longer]!; k < byLengthStart[longer + 1]! && best > 1; k++)
              visit(byLength[k]!);
          }
        }
      }
      rowMinimum[u] = best;
    }
    // Columns only get the 0/1 bound: their exact minima cost more time than they save.
    const columnMinimum = new Int32Array(pivotUnique);
    for (let v = 0; v < pivotUnique; v++) {
      const id = pivotIds[pivotFirst[v]!]!;
      const zeroPossible =
        keyStamps.sourceStripped[pivot.strippedKey[id]!] === callStamp ||
        keyStamps.sourceSpelled[pivot.spelledKey[id]!] === callStamp;
      if (!zeroPossible) columnMinimum[v] = 1;
    }
    const rowsAfter = new Int32Array(n + 1);
    for (let i = n - 1; i >= 0; i--) rowsAfter[i] = rowsAfter[i + 1]! + rowMinimum[sourceLocal[i]!]!;
    const columnsAfter = new Int32Array(m + 1);
    for (let j = m - 1; j >= 0; j--) columnsAfter[j] = columnsAfter[j + 1]! + columnMinimum[pivotLocal[j]!]!;

    if (rowStart.length < n) {
      rowStart = new Int32Array(n);
      rowEnd = new Int32Array(n);
      rowOffset = new Int32Array(n);
    }

    /** Fills the rows; cells outside `[bandLow[i], bandHigh[i]]` or pruned by `threshold` are ∞. */
    const fill = (
      threshold: number,
      bandLow: Int32Array | undefined,
      bandHigh: Int32Array | undefined,
    ): number => {
      // Locals, not closure slots: this loop is the hot path.
      const starts = rowStart;
      const ends = rowEnd;
      const offsets = rowOffset;
      const cache = useCache ? costCache : undefined;
      const columns = columnsAfter;
      const pivotLocals = pivotLocal;
      const pivotLengths = pivotStrippedLength;
      let cells = values;
      let write = 0;
      for (let i = 0; i < n; i++) {
        const previousStart = i > 0 ? starts[i - 1]! : 0;
        const previousEnd = i > 0 ? ends[i - 1]! : 0;
        const previousOffset = i > 0 ? offsets[i - 1]! : 0;
        let start = previousStart;
        let limit = m - 1;
        if (bandLow !== undefined && bandHigh !== undefined) {
          if (bandLow[i]! > start) start = bandLow[i]!;
          limit = bandHigh[i]!;
        }
        if (write + (limit - start + 1) > cells.length) {
          values = growInt32(cells, write + (limit - start + 1));
          cells = values;
        }
        const rowBegin = write;
        const remainingRows = rowsAfter[i + 1]!;
        const cacheRow = sourceLocal[i]! * pivotUnique;
        const sourceLength = sourceStrippedLength[sourceLocal[i]!]!;
        const sourceId = sourceIds[i]!;
        let first = -1;
        let last = -1;
        let left = INF;
        for (let j = start; j <= limit; j++) {
          let best = left;
          if (i === 0) {
            if (j === 0) best = 0;
          } else {
            if (j < previousEnd) {
              const up = cells[previousOffset + j - previousStart]!;
              if (up < best) best = up;
            }
            if (j > previousStart && j <= previousEnd) {
              const diagonal = cells[previousOffset + j - 1 - previousStart]!;
              if (diagonal < best) best = diagonal;
            }
          }
          if (best >= INF) {
            if (j > previousEnd || i === 0) break;
            cells[write++] = INF;
            left = INF;
            continue;
          }
          const remainingColumns = columns[j + 1]!;
          const slack = threshold - best - Math.max(remainingColumns, remainingRows);
          let value = INF;
          if (slack >= 0) {
            const pivotUniqueIndex = pivotLocals[j]!;
            let pair = cache !== undefined ? cache[cacheRow + pivotUniqueIndex]! : UNKNOWN_COST;
            if (pair === UNKNOWN_COST) {
              // Lengths bound the distance: skip the edit distance when even that is too much.
              const pivotLength = pivotLengths[pivotUniqueIndex]!;
              const lengthGap =
                sourceLength === 0 || pivotLength === 0
                  ? 0
                  : sourceLength > pivotLength
                    ? sourceLength - pivotLength
                    : pivotLength - sourceLength;
              if (lengthGap > slack) pair = INF;
              else {
                beginRow(sourceId);
                pair = rowCost(pivotIds[j]!, slack);
                if (cache !== undefined && pair <= slack && pair < UNKNOWN_COST)
                  cache[cacheRow + pivotUniqueIndex] = pair;
              }
            }
            if (pair <= slack) value = best + pair;
          }
          cells[write++] = value;
          left = value;
          if (value < INF) {
            if (first < 0) first = j;
            last = j;
          }
        }
        if (first < 0) return INF;
        starts[i] = first;
        ends[i] = last + 1;
        offsets[i] = rowBegin + (first - start);
        write = rowBegin + (last + 1 - start);
      }
      return ends[n - 1] === m ? cells[offsets[n - 1]! + (m - 1 - starts[n - 1]!)]! : INF;
    };

    const at = (i: number, j: number): number =>
      j >= rowStart[i]! && j < rowEnd[i]! ? values[rowOffset[i]! + j - rowStart[i]!]! : INF;
    const pathSource = new Int32Array(n + m);
    const pathPivot = new Int32Array(n + m);
    /** Backtracks the last fill from the end (ties diag → left → up); returns the path length. */
    const trace = (): number => {
      let steps = 0;
      let i = n - 1;
      let j = m - 1;
      while (i > 0 || j > 0) {
        pathSource[steps] = i;
        pathPivot[steps++] = j;
        let move = 0;
        let best = i > 0 && j > 0 ? at(i - 1, j - 1) : INF;
        if (j > 0) {
          const left = at(i, j - 1);
          if (left < best) {
            best = left;
            move = 1;
          }
        }
        if (i > 0) {
          const up = at(i - 1, j);
          if (up < best) {
            best = up;
            move = 2;
          }
        }
        if (move === 0) {
          i--;
          j--;
        } else if (move === 1) {
          j--;
        } else {
          i--;
        }
      }
      pathSource[steps] = 0;
      pathPivot[steps++] = 0;
      return steps;
    };

    const [bandLow, bandHigh] = characterBand(sourceIds, pivotIds, source.spelled, pivot.spelled, table, m);
    let upperBound = fill(INF - 1, bandLow, bandHigh);
    // On long sequences the character diagonal drifts away from the optimal path (2k tokens:
    // bound 26% above the optimum), so a second band follows the first band's best path. It holds
    // that path, so the bound cannot rise, and pruning this pass at the first bound is safe. It
    // reaches the optimum on nearly every chunk; more rounds cost more cells than they save.
    if (upperBound < INF) {
      pathBand(pathSource, pathPivot, trace(), m, bandLow, bandHigh);
      upperBound = Math.min(upperBound, fill(upperBound, bandLow, bandHigh));
    }
    if (upperBound >= INF) upperBound = INF - 1;
    let distance = fill(upperBound, undefined, undefined);
    if (distance >= INF) distance = fill(INF - 1, undefined, undefined);
    endRow();
    lastDistance = distance;

    const steps = trace();
    const aligned: number[][] = new Array(m);
    for (let k = 0; k < m; k++) aligned[k] = [];
    for (let k = steps - 1; k >= 0; k--) aligned[pathPivot[k]!]!.push(pathSource[k]!);
    return aligned;
  };

  return {
    align(sourceTokens: readonly string[], pivotTokens: readonly string[]): number[][] {
      try {
        return align(sourceTokens, pivotTokens);
      } finally {
        endRow(); // leaves the match masks clean even when a call throws
      }
    },
    cost(sourceToken: string, pivotToken: string): number {
      return pairCost(intern(source, sourceToken, true), intern(pivot, pivotToken, false));
    },
    get lastDistance() {
      return lastDistance;
    },
  };
}

/**
 * For each source row, the pivot columns whose share of the text overlaps the row's share,
 * widened by {@link BAND_MARGIN}: a cheap guess at where the optimal path runs.
 */
function characterBand(
  sourceIds: Int32Array,
  pivotIds: Int32Array,
  sourceSpelled: readonly number[],
  pivotSpelled: readonly number[],
  table: CodePointTable,
  m: number,
): [Int32Array, Int32Array] {
  const n = sourceIds.length;
  const sourceEnds = new Float64Array(n);
  const pivotEnds = new Float64Array(m);
  let total = 0;
  for (let i = 0; i < n; i++) {
    total += Math.max(1, table.length(sourceSpelled[sourceIds[i]!]!));
    sourceEnds[i] = total;
  }
  let pivotTotal = 0;
  for (let j = 0; j < m; j++) {
    pivotTotal += Math.max(1, table.length(pivotSpelled[pivotIds[j]!]!));
    pivotEnds[j] = pivotTotal;
  }
  const scale = total / pivotTotal;
  const low = new Int32Array(n);
  const high = new Int32Array(n);
  let j = 0;
  let begin = 0;
  for (let i = 0; i < n; i++) {
    // First pivot column ending after this row begins, last one starting before it ends.
    while (j < m - 1 && pivotEnds[j]! * scale <= begin) j++;
    let k = j;
    while (k < m - 1 && pivotEnds[k]! * scale < sourceEnds[i]!) k++;
    low[i] = Math.max(0, j - BAND_MARGIN);
    high[i] = Math.min(m - 1, k + BAND_MARGIN);
    begin = sourceEnds[i]!;
  }
  low[0] = 0;
  high[n - 1] = m - 1;
  for (let i = n - 2; i >= 0; i--) if (low[i + 1]! < low[i]!) low[i] = low[i + 1]!;
  for (let i = 1; i < n; i++) {
    if (high[i]! < high[i - 1]!) high[i] = high[i - 1]!;
    if (low[i]! > high[i - 1]! + 1) low[i] = high[i - 1]! + 1;
  }
  return [low, high];
}

/**
 * The band of the next upper-bound pass: each row's columns on the path (`steps` cells, recorded
 * from the end), widened by {@link PATH_MARGIN}.
 */
function pathBand(
  pathSource: Int32Array,
  pathPivot: Int32Array,
  steps: number,
  m: number,
  low: Int32Array,
  high: Int32Array,
): void {
  for (let k = steps - 1; k >= 0; k--) {
    const i = pathSource[k]!;
    const j = pathPivot[k]!;
    if (k === steps - 1 || pathSource[k + 1]! !== i) low[i] = Math.max(0, j - PATH_MARGIN);
    high[i] = Math.min(m - 1, j + PATH_MARGIN);
  }
}

function checkTokens(tokens: readonly string[], field: string): void {
  if (!Array.isArray(tokens)) {
    throw new InvalidInputError(`${field} must be an array of token strings`, {
      code: 'ALIGNMENT_INVALID_TOKEN',
      field,
    });
  }
  for (let index = 0; index < tokens.length; index++) {
    if (typeof tokens[index] !== 'string') {
      throw new InvalidInputError(
        `${field}[${index}] is ${tokens[index] === undefined ? 'undefined' : typeof tokens[index]}, not a token string (an id missing from the vocabulary?)`,
        { code: 'ALIGNMENT_INVALID_TOKEN', field: `${field}[${index}]` },
      );
    }
  }
}

function growInt32(array: Int32Array, needed: number): Int32Array {
  let size = Math.max(16, array.length * 2);
  while (size < needed) size *= 2;
  const next = new Int32Array(size);
  next.set(array);
  return next;
}
