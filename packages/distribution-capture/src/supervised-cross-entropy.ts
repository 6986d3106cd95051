/**
 * An example's mean next-token cross-entropy (nats) over its supervised tokens, from the
 * per-position log-probabilities of the actual next token: the mean of `−nextTokenLogProbs[t]`
 * over the positions `t` whose next token is supervised (`labelMask[t + 1] = 1`); NaN when none
 * is. The same for every provider (logits or log-probabilities give the same log-softmax).
 *
 * @example
 * ```ts
 * supervisedCrossEntropy(Float32Array.from([-1, -3, NaN]), Uint8Array.from([0, 1, 1])); // 2
 * supervisedCrossEntropy(Float32Array.from([-1, NaN]), Uint8Array.from([1, 0])); // NaN
 * ```
 */
export function supervisedCrossEntropy(nextTokenLogProbs: Float32Array, labelMask: Uint8Array): number {
  let total = 0;
  let count = 0;
  for (let t = 0; t + 1 < labelMask.length; t++) {
    if (labelMask[t + 1] !== 1) continue;
    total -= nextTokenLogProbs[t]!;
    count++;
  }
  return count === 0 ? Number.NaN : total / count;
}
