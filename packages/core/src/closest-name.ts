/**
 * The candidate closest to `name` by edit distance (case-insensitive), or `undefined` when none is
 * close enough to be a plausible typo (distance ≤ `maxDistance`, default max(2, ⌊length/3⌋));
 * ties go to the first.
 *
 * @example
 * ```ts
 * closestName('lerning_rate', ['learning_rate', 'weight_decay']); // 'learning_rate'
 * closestName('xyz', ['learning_rate']);                          // undefined
 * ```
 */
export function closestName(
  name: string,
  candidates: Iterable<string>,
  maxDistance = Math.max(2, Math.floor(name.length / 3)),
): string | undefined {
  const lower = name.toLowerCase();
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of candidates) {
    const distance = editDistance(lower, candidate.toLowerCase());
    if (distance < bestDistance) {
      bestDistance = distance;
      best = candidate;
    }
  }
  return bestDistance <= maxDistance ? best : undefined;
}

function editDistance(a: string, b: string): number {
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
