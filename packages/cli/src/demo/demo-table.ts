import type { EvaluationRow, ModelRecord, PipelineResults } from '@fusechat/pipeline';
import { NEGLIGIBLE_LOSS_DIFFERENCE } from '@fusechat/pipeline';

/** The models of a run in table order: pivot, sources, control, targets, merged. */
const ROLE_ORDER: readonly ModelRecord['role'][] = ['pivot', 'source', 'control', 'target', 'merged'];

const meanOf = (values: readonly number[]): number =>
  values.length === 0 ? Number.NaN : values.reduce((sum, value) => sum + value, 0) / values.length;

function lossesOf(evaluation: readonly EvaluationRow[], model: string): Map<string, EvaluationRow> {
  const rows = new Map<string, EvaluationRow>();
  for (const row of evaluation) if (row.model === model) rows.set(row.split, row);
  return rows;
}

/** The rows of one evaluation set (`test` or `validation`); rows without a set count as test. */
export function rowsOfSet(
  evaluation: readonly EvaluationRow[],
  set: 'test' | 'validation' = 'test',
): EvaluationRow[] {
  return evaluation.filter((row) => ((row as { set?: string }).set ?? 'test') === set);
}

const formatPerplexity = (value: number | undefined): string =>
  value === undefined || !Number.isFinite(value) ? '—' : value >= 1000 ? value.toFixed(0) : value.toFixed(1);

/**
 * The demo's results table: held-out response perplexity per model and domain, plus the mean
 * loss over the domains. A source whose vocabulary is not the pivot's is scored per its own
 * tokens, so its column is marked: its numbers compare with its own row only.
 *
 * @example
 * ```ts
 * for (const line of resultsTable(results)) console.log(line);
 * ```
 */
export function resultsTable(
  results: Pick<PipelineResults, 'models' | 'evaluation'>,
  set: 'test' | 'validation' = 'test',
): string[] {
  results = { models: results.models, evaluation: rowsOfSet(results.evaluation, set) };
  const splits = [...new Set(results.evaluation.map((row) => row.split))];
  const pivot = results.models.find((model) => model.role === 'pivot');
  const models = [...results.models].sort((a, b) => ROLE_ORDER.indexOf(a.role) - ROLE_ORDER.indexOf(b.role));
  const nameWidth = Math.max(12, ...models.map((model) => model.name.length + model.role.length + 3));
  const header = [
    'model'.padEnd(nameWidth),
    ...splits.map((split) => split.padStart(10)),
    'mean loss'.padStart(10),
  ];
  const lines = [header.join('  '), '-'.repeat(header.join('  ').length)];
  let ownTokenizer = false;
  for (const model of models) {
    const rows = lossesOf(results.evaluation, model.name);
    if (rows.size === 0) continue;
    const foreign = pivot !== undefined && model.vocabSize !== pivot.vocabSize;
    ownTokenizer ||= foreign;
    const losses = splits
      .map((split) => rows.get(split)?.loss)
      .filter((loss): loss is number => loss !== undefined);
    lines.push(
      [
        `${model.name} (${model.role})${foreign ? '*' : ''}`.padEnd(nameWidth),
        ...splits.map((split) => formatPerplexity(rows.get(split)?.perplexity).padStart(10)),
        (losses.length === splits.length ? meanOf(losses).toFixed(3) : '—').padStart(10),
      ].join('  '),
    );
  }
  if (ownTokenizer)
    lines.push("* scored per token of its own vocabulary, not the pivot's: compare within its row only");
  return lines;
}

/** One comparison of the verdict: `model` against `baseline` on some splits. */
export interface DemoComparison {
  readonly model: string;
  readonly baseline: string;
  readonly splits: readonly string[];
  /** Mean over `splits` of model loss − baseline loss (negative: `model` is better). */
  readonly lossDifference: number;
  readonly better: boolean;
}

/**
 * What the run shows, credited honestly: fusion only against the CLM-only control (the pivot
 * trained on the same data and steps without the teachers), the merge also against the best
 * single target, and each target on its own source's domain.
 *
 * @example
 * ```ts
 * const verdict = demoVerdict(results);
 * verdict.lines.forEach((line) => console.log(line));
 * ```
 */
export function demoVerdict(
  results: Pick<PipelineResults, 'models' | 'evaluation'>,
  set: 'test' | 'validation' = 'test',
): {
  readonly comparisons: readonly DemoComparison[];
  readonly lines: readonly string[];
} {
  const { models } = results;
  const evaluation = rowsOfSet(results.evaluation, set);
  const splits = [...new Set(evaluation.map((row) => row.split))];
  const control = models.find((model) => model.role === 'control');
  const merged = models.find((model) => model.role === 'merged');
  const targets = models.filter((model) => model.role === 'target');
  const comparisons: DemoComparison[] = [];
  const compare = (model: string, baseline: string, on: readonly string[]): DemoComparison | undefined => {
    const [mine, theirs] = [lossesOf(evaluation, model), lossesOf(evaluation, baseline)];
    const common = on.filter((split) => mine.has(split) && theirs.has(split));
    if (common.length === 0) return undefined;
    const lossDifference = meanOf(common.map((split) => mine.get(split)!.loss - theirs.get(split)!.loss));
    // One seed: differences under NEGLIGIBLE_LOSS_DIFFERENCE (≈ 1% perplexity) earn no credit.
    const better = lossDifference <= -NEGLIGIBLE_LOSS_DIFFERENCE;
    const comparison = { model, baseline, splits: common, lossDifference, better };
    comparisons.push(comparison);
    return comparison;
  };
  const lines: string[] = [];
  const say = (comparison: DemoComparison | undefined, what: string) => {
    if (comparison === undefined) return;
    const ratio = Math.exp(comparison.lossDifference);
    lines.push(
      `${what}: ${comparison.better ? 'better' : Math.abs(comparison.lossDifference) < NEGLIGIBLE_LOSS_DIFFERENCE ? 'no measurable difference' : 'NOT better'} — mean loss ${comparison.lossDifference >= 0 ? '+' : '−'}${Math.abs(comparison.lossDifference).toFixed(3)} nats ` +
        `(perplexity ×${ratio.toFixed(3)}) over ${comparison.splits.join(', ')}`,
    );
  };
  if (control === undefined) lines.push('No CLM-only control was trained: no credit can be given to fusion.');
  else {
    if (merged !== undefined)
      say(compare(merged.name, control.name, splits), `fused (${merged.name}) vs CLM-only control`);
    for (const target of targets) {
      // A target should gain on its own source's domain (the demo names sources after domains).
      const own = target.source !== undefined && splits.includes(target.source) ? [target.source] : splits;
      say(compare(target.name, control.name, own), `${target.name} vs control on ${own.join(', ')}`);
    }
  }
  if (merged !== undefined && targets.length > 0) {
    const best = targets
      .map((target) => ({ target, comparison: compare(merged.name, target.name, splits) }))
      .filter((entry) => entry.comparison !== undefined)
      .sort((a, b) => b.comparison!.lossDifference - a.comparison!.lossDifference)[0];
    if (best !== undefined)
      say(best.comparison, `fused vs the best single target over all domains (${best.target.name})`);
  }
  lines.push(
    'One seed: differences this small are not tested against the seed spread (see docs/results.md).',
  );
  return { comparisons, lines };
}
