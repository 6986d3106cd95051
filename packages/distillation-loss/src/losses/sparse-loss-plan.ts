import { InvalidInputError, NumericalError } from '@fusechat/core';
import type { LogitsShape, TargetArrays } from './loss-inputs.js';
import { unflatten } from './loss-inputs.js';

/**
 * One soft-target cross-entropy term over the flattened positions `n = b·T + t`:
 * `Σ_n w_n (logsumexp(z_n) − Σ_{v} q_{n,v} z_{n,v}) + constant`, with `q_n` a probability
 * vector over a few ids (CSR: row `n` owns entries `[rowStart[n], rowStart[n+1])`).
 * For a mean over the active positions, `w_n = 1 / count` on active rows and 0 elsewhere.
 */
export interface SparseTerm {
  readonly rowWeights: Float64Array;
  readonly rowStart: Int32Array;
  readonly ids: Int32Array;
  readonly probabilities: Float64Array;
  readonly constant: number;
}

/**
 * Several {@link SparseTerm}s merged for the device: one entry per distinct (position, id), so a
 * gather and a scatter serve every term at once (CLM and fusion share the logsumexp).
 */
export interface SparseLossPlan {
  readonly rows: number;
  readonly vocabSize: number;
  readonly termCount: number;
  /** `[termCount, rows]`: each term's own row weights (for reporting the parts). */
  readonly termRowWeights: Float32Array;
  /** `[termCount, entries]`: each term's `w_n q_{n,v}` on the merged entries. */
  readonly termEntryWeights: Float32Array;
  readonly termConstants: readonly number[];
  /** Weights of the terms in the loss (λ and 1 − λ for the combined loss). */
  readonly termScales: readonly number[];
  /** Σ_c scale_c · w_{c,n}. */
  readonly rowWeights: Float32Array;
  /** `n·V + id` of each merged entry; distinct. */
  readonly entryIndices: Int32Array;
  readonly entryRows: Int32Array;
  /** Σ_c scale_c · w_{c,n} q_{c,n,v}. */
  readonly entryWeights: Float32Array;
  /** Σ_c scale_c · constant_c. */
  readonly constant: number;
  /** Number of rows with a non-zero weight. */
  readonly activeRows: number;
}

function countActive(active: Uint8Array): number {
  let count = 0;
  for (let n = 0; n < active.length; n++) count += active[n]!;
  return count;
}

/**
 * The CLM term: mean over active positions of `−log softmax(z_n)[label_{n+1}]`.
 * Labels of active positions must lie in `[0, V)`.
 */
export function clmTerm(labels: Int32Array, active: Uint8Array, shape: LogitsShape): SparseTerm {
  const rows = active.length;
  const count = countActive(active);
  const rowWeights = new Float64Array(rows);
  const rowStart = new Int32Array(rows + 1);
  const ids = new Int32Array(count);
  const probabilities = new Float64Array(count).fill(1);
  let entry = 0;
  for (let n = 0; n < rows; n++) {
    rowStart[n] = entry;
    if (active[n] === 0) continue;
    const label = labels[n + 1]!;
    if (label < 0 || label >= shape.vocabSize) {
      const b = Math.floor((n + 1) / shape.timeSteps);
      const t = (n + 1) % shape.timeSteps;
      throw new InvalidInputError(
        `labels[${b}][${t}] = ${label} is outside the vocabulary [0, ${shape.vocabSize}) of logits (use -100 for tokens that are not supervised)`,
        { code: 'TOKEN_ID_OUT_OF_RANGE', field: 'labels', details: { batch: b, time: t, id: label } },
      );
    }
    rowWeights[n] = 1 / count;
    ids[entry++] = label;
  }
  rowStart[rows] = entry;
  return { rowWeights, rowStart, ids, probabilities, constant: 0 };
}

/**
 * The fusion term: mean over active positions of `logsumexp(z_n) − Σ_v q_{n,v} z_{n,v}` with
 * `q_n = softmax(targetLogits_n / temperature)` over the kept slots (id ≠ −1, first occurrence
 * of each id). `variant: 'kl'` subtracts the entropy of `q_n` (a constant for the gradient).
 */
export function fusionTerm(
  targets: TargetArrays,
  active: Uint8Array,
  shape: LogitsShape,
  temperature: number,
  variant: 'ce' | 'kl',
): SparseTerm {
  const rows = active.length;
  const { k, ids: targetIds, logits: targetLogits } = targets;
  const count = countActive(active);
  const rowWeights = new Float64Array(rows);
  const rowStart = new Int32Array(rows + 1);
  const ids = new Int32Array(count * k);
  const probabilities = new Float64Array(count * k);
  // seen[id] === stamp ⇔ id already kept in the current row (first occurrence wins).
  const seen = new Int32Array(shape.vocabSize).fill(-1);
  let entry = 0;
  let entropySum = 0;
  for (let n = 0; n < rows; n++) {
    rowStart[n] = entry;
    if (active[n] === 0) continue;
    const first = entry;
    let maxScaled = Number.NEGATIVE_INFINITY;
    for (let slot = 0; slot < k; slot++) {
      const index = n * k + slot;
      const id = targetIds[index]!;
      if (id === -1 || seen[id] === n) continue;
      seen[id] = n;
      const logit = targetLogits[index]!;
      if (Number.isNaN(logit) || logit === Number.POSITIVE_INFINITY) {
        const [b, t] = unflatten(index, shape.timeSteps, k);
        throw new NumericalError(
          `targetLogits[${b}][${t}][${slot}] is ${logit} (token ${id}): teacher logits must be finite`,
          {
            tensorName: 'targetLogits',
            details: { batch: b, time: t, slot, id },
          },
        );
      }
      const scaled = logit / temperature;
      ids[entry] = id;
      probabilities[entry] = scaled;
      if (scaled > maxScaled) maxScaled = scaled;
      entry++;
    }
    const [b, t] = unflatten(n * k, shape.timeSteps, k);
    if (entry === first) {
      throw new InvalidInputError(
        `targetIds[${b}][${t}] has no entries although position ${t} predicts a supervised token; every supervised position needs a target`,
        { code: 'EMPTY_TARGET', field: 'targetIds', details: { batch: b, time: t } },
      );
    }
    if (maxScaled === Number.NEGATIVE_INFINITY) {
      throw new NumericalError(
        `targetLogits[${b}][${t}] are all -Infinity: the teacher distribution is undefined`,
        {
          tensorName: 'targetLogits',
          details: { batch: b, time: t },
        },
      );
    }
    let total = 0;
    for (let e = first; e < entry; e++) {
      const weight = Math.exp(probabilities[e]! - maxScaled);
      probabilities[e] = weight;
      total += weight;
    }
    let entropy = 0;
    for (let e = first; e < entry; e++) {
      const q = probabilities[e]! / total;
      probabilities[e] = q;
      if (q > 0) entropy -= q * Math.log(q);
    }
    rowWeights[n] = 1 / count;
    entropySum += entropy;
  }
  rowStart[rows] = entry;
  return {
    rowWeights,
    rowStart,
    ids: ids.subarray(0, entry),
    probabilities: probabilities.subarray(0, entry),
    constant: variant === 'kl' && count > 0 ? -entropySum / count : 0,
  };
}

/** Merges terms into one device plan: `loss = Σ_c scale_c · term_c`. */
export function mergeTerms(
  terms: readonly SparseTerm[],
  scales: readonly number[],
  shape: LogitsShape,
): SparseLossPlan {
  const rows = shape.batchSize * shape.timeSteps;
  const { vocabSize } = shape;
  const termCount = terms.length;
  let capacity = 0;
  for (const term of terms) capacity += term.ids.length;
  const entryIndices = new Int32Array(capacity);
  const entryRows = new Int32Array(capacity);
  const entryWeights64 = new Float64Array(capacity);
  const termEntry64 = new Float64Array(termCount * capacity);
  const rowWeights64 = new Float64Array(rows);
  // slotOf[id] is the merged entry of `id` in the current row when stampOf[id] === row.
  const stampOf = new Int32Array(vocabSize).fill(-1);
  const slotOf = new Int32Array(vocabSize);
  let entries = 0;
  for (let n = 0; n < rows; n++) {
    for (let c = 0; c < termCount; c++) {
      const term = terms[c]!;
      const weight = term.rowWeights[n]!;
      if (weight === 0) continue;
      const scaled = scales[c]! * weight;
      rowWeights64[n] += scaled;
      for (let e = term.rowStart[n]!; e < term.rowStart[n + 1]!; e++) {
        const id = term.ids[e]!;
        let slot: number;
        if (stampOf[id] === n) {
          slot = slotOf[id]!;
        } else {
          slot = entries++;
          stampOf[id] = n;
          slotOf[id] = slot;
          entryIndices[slot] = n * vocabSize + id;
          entryRows[slot] = n;
        }
        const q = term.probabilities[e]!;
        entryWeights64[slot] += scaled * q;
        termEntry64[c * capacity + slot] = weight * q;
      }
    }
  }
  const termRowWeights = new Float32Array(termCount * rows);
  const termEntryWeights = new Float32Array(termCount * entries);
  for (let c = 0; c < termCount; c++) {
    termRowWeights.set(terms[c]!.rowWeights, c * rows);
    termEntryWeights.set(termEntry64.subarray(c * capacity, c * capacity + entries), c * entries);
  }
  let activeRows = 0;
  const rowWeights = Float32Array.from(rowWeights64);
  for (let n = 0; n < rows; n++) if (rowWeights[n] !== 0) activeRows++;
  let constant = 0;
  for (let c = 0; c < termCount; c++) constant += scales[c]! * terms[c]!.constant;
  return {
    rows,
    vocabSize,
    termCount,
    termRowWeights,
    termEntryWeights,
    termConstants: terms.map((term) => term.constant),
    termScales: scales,
    rowWeights,
    entryIndices: entryIndices.slice(0, entries),
    entryRows: entryRows.slice(0, entries),
    entryWeights: Float32Array.from(entryWeights64.subarray(0, entries)),
    constant,
    activeRows,
  };
}
