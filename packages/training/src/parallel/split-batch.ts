import type { TrainingBatch } from '../training-batch.js';

/**
 * Splits a micro-batch into at most `parts` batches of consecutive rows (sizes differ by at most
 * one row), each trimmed to its own longest row. The supervised positions of the parts add up to
 * the batch's, so the step's loss, weighted by `n_i / N` as `accumulateGradients` does, is the
 * same objective: only float32 rounding differs. A batch with fewer rows than `parts` gives one
 * part per row.
 *
 * @example
 * ```ts
 * const [first, second] = splitBatchRows(batch, 2); // rows 0–3 and 4–7 of an 8-row batch
 * ```
 */
export function splitBatchRows(batch: TrainingBatch, parts: number): TrainingBatch[] {
  const rows = batch.inputIds.length;
  const count = Math.max(1, Math.min(parts, rows));
  if (count === 1) return [batch];
  const result: TrainingBatch[] = [];
  let start = 0;
  for (let part = 0; part < count; part++) {
    const size = Math.floor(rows / count) + (part < rows % count ? 1 : 0);
    result.push(rowRange(batch, start, start + size));
    start += size;
  }
  return result;
}

/** Rows `[start, end)` of `batch`, trimmed to their longest real length. */
function rowRange(batch: TrainingBatch, start: number, end: number): TrainingBatch {
  const attentionMask = batch.attentionMask.slice(start, end);
  // Right-padded: a row's real length is its count of ones.
  const time = Math.max(1, ...attentionMask.map((row) => row.reduce((sum: number, x) => sum + x, 0)));
  const trim = <T>(row: readonly T[]) => row.slice(0, time);
  const labels = batch.labels.slice(start, end).map(trim);
  let supervisedPositions = 0;
  for (const row of labels) for (let t = 1; t < row.length; t++) if (row[t] !== -100) supervisedPositions++;
  let tokens = 0;
  for (const row of attentionMask) for (let t = 0; t < row.length; t++) tokens += row[t]!;
  let targets = batch.targets;
  if (targets !== undefined) {
    const [, fullTime, k] = targets.shape;
    const ids = new Int32Array((end - start) * time * k);
    const logits = new Float32Array(ids.length);
    for (let row = start; row < end; row++) {
      const from = row * fullTime * k;
      const to = (row - start) * time * k;
      ids.set(targets.ids.subarray(from, from + time * k), to);
      logits.set(targets.logits.subarray(from, from + time * k), to);
    }
    targets = { shape: [end - start, time, k], ids, logits };
  }
  return {
    exampleIds: batch.exampleIds.slice(start, end),
    inputIds: batch.inputIds.slice(start, end).map(trim),
    attentionMask: attentionMask.map(trim),
    labels,
    targets,
    supervisedPositions,
    tokens,
    paddedTokens: (end - start) * time,
  };
}
