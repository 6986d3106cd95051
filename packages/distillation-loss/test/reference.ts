// Independent float64 references for the losses, written from DESIGN.md §3 without the
// package's code: plain loops over nested arrays.

export type Logits3 = number[][][]; // [batch][time][vocab]

function logSumExp(row: readonly number[]): number {
  const max = Math.max(...row);
  let sum = 0;
  for (const value of row) sum += Math.exp(value - max);
  return max + Math.log(sum);
}

/** Supervised positions: (b, t) such that token t + 1 is supervised. */
function positions(labels: number[][], mask: number[][] | undefined): [number, number][] {
  const out: [number, number][] = [];
  for (let b = 0; b < labels.length; b++) {
    for (let t = 0; t + 1 < labels[b]!.length; t++) {
      if (labels[b]![t + 1] === -100) continue;
      if (mask && mask[b]![t + 1] === 0) continue;
      out.push([b, t]);
    }
  }
  return out;
}

export function referenceClm(logits: Logits3, labels: number[][], mask?: number[][]): number {
  const active = positions(labels, mask);
  if (active.length === 0) return 0;
  let total = 0;
  for (const [b, t] of active) {
    const row = logits[b]![t]!;
    total += logSumExp(row) - row[labels[b]![t + 1]!]!;
  }
  return total / active.length;
}

/** The teacher distribution of one position: first occurrence of each id, −1 skipped. */
export function referenceTeacher(ids: number[], logits: number[], temperature = 1): Map<number, number> {
  const kept = new Map<number, number>();
  ids.forEach((id, slot) => {
    if (id !== -1 && !kept.has(id)) kept.set(id, logits[slot]! / temperature);
  });
  const max = Math.max(...kept.values());
  let sum = 0;
  for (const value of kept.values()) sum += Math.exp(value - max);
  const q = new Map<number, number>();
  for (const [id, value] of kept) q.set(id, Math.exp(value - max) / sum);
  return q;
}

export function referenceFusion(
  logits: Logits3,
  targetIds: number[][][],
  targetLogits: number[][][],
  mask: number[][],
  options: { temperature?: number; variant?: 'ce' | 'kl' } = {},
): number {
  const labels = mask.map((row) => row.map((m) => (m === 0 ? -100 : 0)));
  const active = positions(labels, undefined);
  if (active.length === 0) return 0;
  let total = 0;
  for (const [b, t] of active) {
    const row = logits[b]![t]!;
    const q = referenceTeacher(targetIds[b]![t]!, targetLogits[b]![t]!, options.temperature ?? 1);
    let term = logSumExp(row);
    for (const [id, p] of q) {
      term -= p * row[id]!;
      if (options.variant === 'kl' && p > 0) term += p * Math.log(p);
    }
    total += term;
  }
  return total / active.length;
}

export function referenceCombined(
  logits: Logits3,
  labels: number[][],
  mask: number[][] | undefined,
  targetIds: number[][][],
  targetLogits: number[][][],
  lambda: number,
  options: { temperature?: number; variant?: 'ce' | 'kl' } = {},
): number {
  const supervised = labels.map((row, b) =>
    row.map((label, t) => (label === -100 || (mask && mask[b]![t] === 0) ? 0 : 1)),
  );
  return (
    lambda * referenceClm(logits, labels, mask) +
    (1 - lambda) * referenceFusion(logits, targetIds, targetLogits, supervised, options)
  );
}

/** Central finite differences of `f` at `x` (float64), step `h`. */
export function finiteDifferenceGradient(f: (x: Logits3) => number, x: Logits3, h = 1e-5): Logits3 {
  return x.map((rows, b) =>
    rows.map((row, t) =>
      row.map((_, v) => {
        const plus = structuredClone(x);
        const minus = structuredClone(x);
        plus[b]![t]![v]! += h;
        minus[b]![t]![v]! -= h;
        return (f(plus) - f(minus)) / (2 * h);
      }),
    ),
  );
}

/** Random float32-representable logits (the reference then sees exactly what tfjs sees). */
export function randomLogits(
  random: () => number,
  batch: number,
  time: number,
  vocab: number,
  scale = 3,
): Logits3 {
  return Array.from({ length: batch }, () =>
    Array.from({ length: time }, () =>
      Array.from({ length: vocab }, () => Math.fround((random() * 2 - 1) * scale)),
    ),
  );
}

/** Every entry of `actual` within `0.5·10^−digits` of `expected` (vitest's toBeCloseTo). */
export function gradientMismatches(actual: Logits3, expected: Logits3, digits = 6): string[] {
  const tolerance = 0.5 * 10 ** -digits;
  const mismatches: string[] = [];
  for (let b = 0; b < actual.length; b++) {
    for (let t = 0; t < actual[b]!.length; t++) {
      for (let v = 0; v < actual[b]![t]!.length; v++) {
        const difference = Math.abs(actual[b]![t]![v]! - expected[b]![t]![v]!);
        if (!(difference < tolerance)) {
          mismatches.push(`[${b}][${t}][${v}]: ${actual[b]![t]![v]} vs ${expected[b]![t]![v]}`);
        }
      }
    }
  }
  return mismatches;
}
