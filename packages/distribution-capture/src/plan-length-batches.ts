/** One batch of {@link planLengthBatches}: indices into the input, and the padded length. */
export interface LengthBatch {
  /** Positions in the input list, longest first. */
  readonly indices: readonly number[];
  /** Length of the longest sequence in the batch (the padded time dimension). */
  readonly time: number;
}

/**
 * Groups sequences by length so that padding stays small: sorts them longest first (ties keep
 * input order) and fills each batch while `rows × longest ≤ batchTokens` (and at most
 * `maxRows` rows); a sequence longer than `batchTokens` gets a batch of its own. Deterministic:
 * the same lengths always give the same batches.
 *
 * @example
 * ```ts
 * planLengthBatches([3, 9, 4, 8], { batchTokens: 15 });
 * // [{ indices: [1], time: 9 }, { indices: [3], time: 8 }, { indices: [2, 0], time: 4 }]
 * ```
 */
export function planLengthBatches(
  lengths: readonly number[],
  options: { batchTokens: number; maxRows?: number | undefined },
): LengthBatch[] {
  const maxRows = options.maxRows ?? Number.POSITIVE_INFINITY;
  const order = lengths.map((_, index) => index).sort((a, b) => lengths[b]! - lengths[a]! || a - b);
  const batches: LengthBatch[] = [];
  let current: number[] = [];
  let time = 0;
  for (const index of order) {
    if (
      current.length > 0 &&
      ((current.length + 1) * time > options.batchTokens || current.length >= maxRows)
    ) {
      batches.push({ indices: current, time });
      current = [];
    }
    if (current.length === 0) time = lengths[index]!;
    current.push(index);
  }
  if (current.length > 0) batches.push({ indices: current, time });
  return batches;
}
