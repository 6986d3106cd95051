// How much of each model's next-token distribution its captured top-k holds, on a pipeline run's
// fusion data: at supervised positions, how often the actual next token is among the top k, and
// (where it is, through the capture's full-vocabulary log-probability of that token) the share of
// the full probability mass the k entries carry. FuseChat's fusion term is a cross-entropy to the
// top-k renormalised to 1, so a low coverage means the target gives the actual token no weight.
//
//   node --conditions=source --import ./scripts/register-source-hooks.mjs --import tsx \
//     scripts/demo-teachers/top-k-coverage.ts RUN_DIR   # e.g. reproduce-runs/runs/seed1-l0.9-lr0.001-s30
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { openStore } from '../../packages/distribution-store/src/index.js';

const run = process.argv[2];
if (run === undefined) throw new Error('usage: top-k-coverage.ts RUN_DIR (a fusechat run directory)');
for (const kind of ['capture', 'align']) {
  for (const name of (await readdir(join(run, kind))).sort()) {
    const store = await openStore(join(run, kind, name, 'store'));
    const byDomain = new Map<string, { positions: number; covered: number }>();
    let mass = 0;
    let massPositions = 0;
    let k = 0;
    for await (const record of store) {
      const domain = record.id.split('/')[0]!;
      const counts = byDomain.get(domain) ?? { positions: 0, covered: 0 };
      byDomain.set(domain, counts);
      const { ids, logits } = record.topK;
      k = record.topK.k;
      for (let t = 0; t + 1 < record.inputIds.length; t++) {
        if (record.labelMask[t + 1] !== 1) continue;
        counts.positions++;
        const slot = Array.from({ length: k }, (_, j) => t * k + j).find(
          (index) => ids[index] === record.inputIds[t + 1],
        );
        if (slot === undefined) continue;
        counts.covered++;
        const logProbability = record.nextTokenLogProbs?.[t];
        if (logProbability === undefined || !Number.isFinite(logProbability)) continue;
        // logsumexp over the full vocabulary = z_actual − log p(actual); the top-k's share is Σ exp(z_j − lse).
        const logSumExp = logits[slot]! - logProbability;
        for (let j = 0; j < k; j++)
          if (ids[t * k + j]! >= 0) mass += Math.exp(logits[t * k + j]! - logSumExp);
        massPositions++;
      }
    }
    await store.close();
    const all = [...byDomain.values()].reduce(
      (sum, counts) => ({
        positions: sum.positions + counts.positions,
        covered: sum.covered + counts.covered,
      }),
      { positions: 0, covered: 0 },
    );
    const percent = (counts: { positions: number; covered: number }) =>
      `${((100 * counts.covered) / counts.positions).toFixed(1)}%`;
    console.log(
      `${kind}/${name}: actual next token in the top ${k} at ${percent(all)} of ${all.positions} supervised positions (${[...byDomain].map(([domain, counts]) => `${domain} ${percent(counts)}`).join(', ')})` +
        (massPositions > 0
          ? `; the top ${k} hold ${(mass / massPositions).toFixed(3)} of the probability mass where it is`
          : ''),
    );
  }
}
