import type { EvaluationRow, ModelRecord, PipelineResults } from '../results/pipeline-results.js';
import { formatLoss, formatNumber, formatSigned } from './format.js';

/** One evaluation split both compared models were evaluated on. */
export interface VerdictSplit {
  readonly split: string;
  readonly fusedLoss: number;
  readonly controlLoss: number;
  /** `fusedLoss − controlLoss` (negative: fusion is better). */
  readonly difference: number;
}

/** The fused model against one other model, by mean loss over the splits both were evaluated on. */
export interface VerdictComparison {
  readonly model: string;
  readonly role: ModelRecord['role'] | 'unknown';
  readonly meanLoss: number;
  /** Fused mean loss minus this model's, over the common splits. */
  readonly difference: number;
  readonly splits: number;
}

/** Whether fusion beat the CLM-only control (the honest baseline), computed from the evaluation rows. */
export interface FusionVerdict {
  readonly status:
    | 'beat'
    | 'did-not-beat'
    | 'no-measurable-difference'
    | 'no-control'
    | 'no-fused-model'
    | 'no-common-split';
  /** The model standing for fusion: the merged model, else the only target, else the best target. */
  readonly fused?: string | undefined;
  readonly control?: string | undefined;
  readonly splits: readonly VerdictSplit[];
  /** Mean over the common splits of `fusedLoss − controlLoss`. */
  readonly meanDifference?: number | undefined;
  /** Splits where the fused model's loss is strictly below the control's. */
  readonly splitsWon: number;
  /** The fused model against the pivot, each target and the control. */
  readonly comparisons: readonly VerdictComparison[];
  /** One plain sentence: `Fusion beat the CLM-only control: …` or `Fusion did not beat …`. */
  readonly sentence: string;
}

const meanOf = (values: readonly number[]) => values.reduce((sum, value) => sum + value, 0) / values.length;

function lossesOf(evaluation: readonly EvaluationRow[], model: string): Map<string, number> {
  const losses = new Map<string, number>();
  for (const row of evaluation) if (row.model === model) losses.set(row.split, row.loss);
  return losses;
}

/** Fused minus other, over the splits where both have a finite loss. */
function compare(fused: Map<string, number>, other: Map<string, number>) {
  const splits: { split: string; fusedLoss: number; otherLoss: number }[] = [];
  for (const [split, fusedLoss] of fused) {
    const otherLoss = other.get(split);
    if (otherLoss !== undefined && Number.isFinite(otherLoss) && Number.isFinite(fusedLoss))
      splits.push({ split, fusedLoss, otherLoss });
  }
  return splits;
}

/**
 * Mean loss differences smaller than this (in nats, ≈ 1% perplexity) are reported as no
 * measurable difference: one run has one seed, and seed-to-seed changes of that size are common,
 * so a −0.0003 nats "win" must not be headlined as fusion beating the control.
 */
export const NEGLIGIBLE_LOSS_DIFFERENCE = 0.01;

/**
 * Did fusion beat the CLM-only control? The fused model (the merge of the targets; with one
 * source and no merge, its target) against the control (the pivot fine-tuned with CLM only on the
 * same data and steps), by held-out response loss on every split both were evaluated on: `beat`
 * when the mean loss over those splits is lower by at least {@link NEGLIGIBLE_LOSS_DIFFERENCE},
 * `did-not-beat` when it is higher by as much, `no-measurable-difference` in between. One run has one seed, so the sentence
 * says the difference is not tested against the seed spread.
 *
 * @example
 * ```ts
 * const verdict = fusionVerdict(results);
 * console.log(verdict.sentence); // 'Fusion beat the CLM-only control: mean loss 3.210 vs 3.301 (−0.091 nats) …'
 * ```
 */
export function fusionVerdict(results: Pick<PipelineResults, 'models' | 'evaluation'>): FusionVerdict {
  const { models, evaluation } = results;
  const roleOf = (name: string) => models.find((model) => model.name === name)?.role ?? 'unknown';
  const evaluated = (name: string) => evaluation.some((row) => row.model === name);
  const control = models.find((model) => model.role === 'control' && evaluated(model.name))?.name;
  const merged = models.find((model) => model.role === 'merged' && evaluated(model.name))?.name;
  const targets = models
    .filter((model) => model.role === 'target' && evaluated(model.name))
    .map((model) => model.name);
  let fused = merged;
  let fusedNote = '';
  if (fused === undefined && targets.length === 1) fused = targets[0];
  else if (fused === undefined && targets.length > 1) {
    // No merge: the best single target stands for fusion (and says so).
    fused = targets
      .map((name) => ({ name, mean: meanOf([...lossesOf(evaluation, name).values()]) }))
      .sort((a, b) => a.mean - b.mean)[0]!.name;
    fusedNote = ' (no merge in this run: the best target stands for fusion)';
  }
  if (fused === undefined) {
    return {
      status: 'no-fused-model',
      control,
      splits: [],
      splitsWon: 0,
      comparisons: [],
      sentence: 'No fused model was evaluated in this run, so there is no verdict.',
    };
  }
  const fusedLosses = lossesOf(evaluation, fused);
  const comparisons: VerdictComparison[] = [];
  for (const model of models) {
    if (model.name === fused || !['pivot', 'target', 'control'].includes(model.role)) continue;
    const common = compare(fusedLosses, lossesOf(evaluation, model.name));
    if (common.length === 0) continue;
    comparisons.push({
      model: model.name,
      role: roleOf(model.name),
      meanLoss: meanOf(common.map((entry) => entry.otherLoss)),
      difference: meanOf(common.map((entry) => entry.fusedLoss - entry.otherLoss)),
      splits: common.length,
    });
  }
  if (control === undefined) {
    return {
      status: 'no-control',
      fused,
      splits: [],
      splitsWon: 0,
      comparisons,
      sentence: `No CLM-only control was trained (training.control: false), so there is no honest baseline to say whether fusion helped; ${fused} is compared with the pivot and the targets only.`,
    };
  }
  const splits = compare(fusedLosses, lossesOf(evaluation, control)).map((entry) => ({
    split: entry.split,
    fusedLoss: entry.fusedLoss,
    controlLoss: entry.otherLoss,
    difference: entry.fusedLoss - entry.otherLoss,
  }));
  if (splits.length === 0) {
    return {
      status: 'no-common-split',
      fused,
      control,
      splits,
      splitsWon: 0,
      comparisons,
      sentence: `${fused} and the control ${control} share no evaluation split with a finite loss, so there is no verdict.`,
    };
  }
  const meanDifference = meanOf(splits.map((entry) => entry.difference));
  const fusedMean = meanOf(splits.map((entry) => entry.fusedLoss));
  const controlMean = meanOf(splits.map((entry) => entry.controlLoss));
  const splitsWon = splits.filter((entry) => entry.difference < 0).length;
  const status: FusionVerdict['status'] =
    meanDifference <= -NEGLIGIBLE_LOSS_DIFFERENCE
      ? 'beat'
      : meanDifference >= NEGLIGIBLE_LOSS_DIFFERENCE
        ? 'did-not-beat'
        : 'no-measurable-difference';
  const headline =
    status === 'beat'
      ? 'Fusion beat the CLM-only control'
      : status === 'did-not-beat'
        ? 'Fusion did not beat the CLM-only control'
        : `No measurable difference between fusion and the CLM-only control (|Δ| < ${NEGLIGIBLE_LOSS_DIFFERENCE} nats)`;
  const sentence =
    `${headline}: ${fused}${fusedNote} has a mean held-out loss of ` +
    `${formatLoss(fusedMean)} against ${formatLoss(controlMean)} for ${control} (${formatSigned(meanDifference)} nats, ` +
    `perplexity ${formatNumber(Math.exp(fusedMean))} vs ${formatNumber(Math.exp(controlMean))}), lower on ${splitsWon} of ${splits.length} ` +
    `split${splits.length === 1 ? '' : 's'}. One run, one seed: the difference is not tested against the seed spread (the reproduction runs several seeds).`;
  return {
    status,
    fused,
    control,
    splits,
    meanDifference,
    splitsWon,
    comparisons,
    sentence,
  };
}
