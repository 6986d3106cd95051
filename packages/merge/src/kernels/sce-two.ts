import { KEEP_ALL, KEEP_NONE, type TrimCut } from './sign-consensus.js';
import { findThreshold } from './top-k.js';
import { type ArenaKernels, arenaKernels } from './wasm/kernel-arena.js';
import { foldSubHistograms } from './weighted-sum.js';

const SIGN_CLEAR = 0x7fffffff;

/**
 * SCE's first pass for two models, fused and piece by piece: each {@link SceFirstPass.advance}
 * turns `[start, end)` of `first`/`second` into float32 deltas against `base` (in place) and of
 * `variance` into the float32 population variance of the two deltas, summing both models' squared
 * change (float64, from the unrounded differences, in index order) and counting the variances'
 * histogram and non-zeros. {@link SceFirstPass.finish} returns the mean squared changes and the
 * selection cut for the top `fraction` of the non-zero variances (ties in index order, as
 * `topKMask`). Over consecutive ranges: bit-identical to `subtractWithMeanSquare` per model
 * followed by the variance loop, `count_nonzero` and `topKMask`. Without `variance` (no
 * selection) only the deltas and sums are formed.
 */
export class SceFirstPass {
  // Four interleaved sub-histograms (element i counts in table i & 3): variances cluster in a
  // few buckets, and a single table serialises on repeated increments of one counter.
  // With every array in one KernelArena the counters are the arena's (claimed until finish) and
  // the WebAssembly loop runs.
  readonly #counts: Uint32Array | undefined;
  readonly #kernels: ArenaKernels | undefined;
  #firstSum = 0;
  #secondSum = 0;
  #nonzero = 0;

  constructor(
    private readonly base: Float32Array,
    private readonly first: Float32Array,
    private readonly second: Float32Array,
    /** The variance array the pass fills (the selection scores), if selecting. */
    readonly variance: Float32Array | undefined,
  ) {
    const kernels = variance === undefined ? undefined : arenaKernels(base, first, second, variance);
    this.#kernels = kernels?.claimCounts(this) ? kernels : undefined;
    this.#counts = variance === undefined ? undefined : (this.#kernels?.counts ?? new Uint32Array(4 * 65536));
  }

  advance(start: number, end: number): void {
    const { base, first, second, variance } = this;
    const kernels = this.#kernels;
    if (kernels !== undefined) {
      kernels.scratch[0] = this.#firstSum;
      kernels.scratch[1] = this.#secondSum;
      this.#nonzero += kernels.exports.sce_first_pass(
        first.byteOffset,
        second.byteOffset,
        base.byteOffset,
        variance!.byteOffset,
        this.#counts!.byteOffset,
        start * 4,
        end * 4,
        kernels.scratchPointer,
      );
      this.#firstSum = kernels.scratch[0]!;
      this.#secondSum = kernels.scratch[1]!;
      return;
    }
    let firstSum = this.#firstSum;
    let secondSum = this.#secondSum;
    if (variance === undefined) {
      for (let i = start; i < end; i++) {
        const d = first[i]! - base[i]!;
        const e = second[i]! - base[i]!;
        firstSum += d * d;
        secondSum += e * e;
        first[i] = d;
        second[i] = e;
      }
      this.#firstSum = firstSum;
      this.#secondSum = secondSum;
      return;
    }
    const varianceBits = new Uint32Array(variance.buffer, variance.byteOffset, variance.length);
    const counts = this.#counts!;
    let nonzero = this.#nonzero;
    let i = start;
    for (; i + 1 < end; i += 2) {
      // Two elements per iteration, their counts in different tables (i & 3 alternates 0/1 and 2/3).
      const d0 = first[i]! - base[i]!;
      const e0 = second[i]! - base[i]!;
      const d1 = first[i + 1]! - base[i + 1]!;
      const e1 = second[i + 1]! - base[i + 1]!;
      firstSum += d0 * d0;
      secondSum += e0 * e0;
      firstSum += d1 * d1;
      secondSum += e1 * e1;
      // Math.fround(d) is exactly what storing d and reading it back from a Float32Array gives.
      const a0 = Math.fround(d0);
      const b0 = Math.fround(e0);
      const a1 = Math.fround(d1);
      const b1 = Math.fround(e1);
      first[i] = a0;
      second[i] = b0;
      first[i + 1] = a1;
      second[i + 1] = b1;
      const mean0 = (a0 + b0) / 2;
      const mean1 = (a1 + b1) / 2;
      variance[i] = ((a0 - mean0) * (a0 - mean0) + (b0 - mean0) * (b0 - mean0)) / 2;
      variance[i + 1] = ((a1 - mean1) * (a1 - mean1) + (b1 - mean1) * (b1 - mean1)) / 2;
      const score0 = varianceBits[i]! & SIGN_CLEAR;
      const score1 = varianceBits[i + 1]! & SIGN_CLEAR;
      nonzero += (-score0 >>> 31) + (-score1 >>> 31);
      counts[((i & 3) << 16) | (score0 >>> 16)]!++;
      counts[(((i + 1) & 3) << 16) | (score1 >>> 16)]!++;
    }
    for (; i < end; i++) {
      const d = first[i]! - base[i]!;
      const e = second[i]! - base[i]!;
      firstSum += d * d;
      secondSum += e * e;
      const a = Math.fround(d);
      const b = Math.fround(e);
      first[i] = a;
      second[i] = b;
      const mean = (a + b) / 2;
      variance[i] = ((a - mean) * (a - mean) + (b - mean) * (b - mean)) / 2;
      const score = varianceBits[i]! & SIGN_CLEAR;
      nonzero += -score >>> 31;
      counts[((i & 3) << 16) | (score >>> 16)]!++;
    }
    this.#firstSum = firstSum;
    this.#secondSum = secondSum;
    this.#nonzero = nonzero;
  }

  /** The mean squared changes and the selection cut (call once every element was advanced). */
  finish(fraction: number): { changeMeanSquare: [number, number]; cut: TrimCut } {
    const length = this.base.length;
    const changeMeanSquare = meanPair(this.#firstSum, this.#secondSum, length);
    const variance = this.variance;
    if (variance === undefined) return { changeMeanSquare, cut: KEEP_ALL };
    const histogram = new Uint32Array(65536);
    foldSubHistograms(this.#counts!, histogram);
    this.#kernels?.releaseCounts(this);
    const k = Math.floor(this.#nonzero * fraction);
    if (k <= 0) return { changeMeanSquare, cut: KEEP_NONE };
    if (k >= length) return { changeMeanSquare, cut: KEEP_ALL };
    const varianceBits = new Uint32Array(variance.buffer, variance.byteOffset, length);
    const threshold = findThreshold(varianceBits, k, histogram, true);
    const last = threshold.lastKeptEqualIndex ?? -1;
    return {
      changeMeanSquare,
      cut: { below: threshold.bits - 1, until: last < 0 ? Number.POSITIVE_INFINITY : last + 1 },
    };
  }
}

function meanPair(first: number, second: number, length: number): [number, number] {
  return length === 0 ? [0, 0] : [first / length, second / length];
}

/** Index ranges `[start, end)` over which a cut's `below` is constant, with that `below`. */
export function cutRanges(cut: TrimCut, length: number): [number, number, number][] {
  if (cut.until <= 0 || cut.until >= length) return [[0, length, cut.until <= 0 ? cut.below + 1 : cut.below]];
  return [
    [0, cut.until, cut.below],
    [cut.until, length, cut.below + 1],
  ];
}
