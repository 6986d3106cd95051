import { describe, expect, it } from 'vitest';
import type { EvaluationRow, ModelRecord } from '../results/pipeline-results.js';
import { fusionVerdict, NEGLIGIBLE_LOSS_DIFFERENCE } from './fusion-verdict.js';
import { realisticResults } from './testing/results-fixture.js';

const model = (name: string, role: ModelRecord['role']): ModelRecord => ({
  name,
  role,
  vocabSize: 10,
  spaceMarker: '▁',
});
const row = (name: string, split: string, loss: number): EvaluationRow => ({
  model: name,
  split,
  loss,
  perplexity: Math.exp(loss),
  tokens: 100,
});

describe('fusionVerdict', () => {
  it('the merged model beats the control when its mean loss over the common splits is lower', () => {
    const verdict = fusionVerdict(realisticResults());
    expect(verdict.status).toBe('beat');
    expect(verdict.fused).toBe('fused');
    expect(verdict.control).toBe('control');
    // Hand-computed: (4.48 − 4.62 + 4.60 − 4.81 + 5.07 − 5.02) / 3 = −0.30 / 3.
    expect(verdict.meanDifference).toBeCloseTo(-0.1, 12);
    expect(verdict.splitsWon).toBe(2);
    expect(verdict.splits.map((split) => split.split)).toEqual(['moby', 'sotu', 'spam']);
    expect(verdict.sentence).toMatch(
      /^Fusion beat the CLM-only control: fused has a mean held-out loss of 4\.717 against 4\.817 for control \(−0\.100 nats/,
    );
    expect(verdict.sentence).toContain('lower on 2 of 3 splits');
    // Against each other model of the pivot's family; sources (other tokenizers) are not compared.
    expect(verdict.comparisons.map((comparison) => comparison.model)).toEqual([
      'pivot',
      'target-moby',
      'target-sotu',
      'control',
    ]);
    const pivot = verdict.comparisons[0]!;
    expect(pivot.difference).toBeCloseTo((4.48 - 5.1 + 4.6 - 5.3 + 5.07 - 5.6) / 3, 12);
  });

  it('a tie, or a difference under NEGLIGIBLE_LOSS_DIFFERENCE, is no measurable difference — not a win', () => {
    const models = [model('p', 'pivot'), model('c', 'control'), model('m', 'merged')];
    const tie = fusionVerdict({ models, evaluation: [row('c', 'a', 2), row('m', 'a', 2)] });
    expect(tie.status).toBe('no-measurable-difference');
    expect(tie.sentence).toMatch(
      /^No measurable difference between fusion and the CLM-only control \(\|Δ\| < 0\.01 nats\)/,
    );
    // The demo's own case: −0.0003 nats over three splits (one of three won) earns no credit.
    const tiny = fusionVerdict({
      models,
      evaluation: [
        row('c', 'a', 7.196),
        row('m', 'a', 7.201),
        row('c', 'b', 6.904),
        row('m', 'b', 6.89),
        row('c', 'c', 7.494),
        row('m', 'c', 7.502),
      ],
    });
    expect(tiny.meanDifference).toBeCloseTo((0.005 - 0.014 + 0.008) / 3, 12);
    expect(tiny.status).toBe('no-measurable-difference');
    // Either side of the threshold.
    const edge = (loss: number) =>
      fusionVerdict({ models, evaluation: [row('c', 'a', 2), row('m', 'a', loss)] }).status;
    expect(NEGLIGIBLE_LOSS_DIFFERENCE).toBe(0.01);
    expect(edge(2 - 0.011)).toBe('beat');
    expect(edge(2 - 0.009)).toBe('no-measurable-difference');
    expect(edge(2 + 0.009)).toBe('no-measurable-difference');
    expect(edge(2 + 0.011)).toBe('did-not-beat');
  });

  it('a higher loss did not beat the control, whatever the per-split wins', () => {
    const models = [model('p', 'pivot'), model('c', 'control'), model('m', 'merged')];
    // Wins one split of two but loses more on the other: the mean decides.
    const mixed = fusionVerdict({
      models,
      evaluation: [row('c', 'a', 2), row('m', 'a', 1.9), row('c', 'b', 3), row('m', 'b', 3.2)],
    });
    expect(mixed.status).toBe('did-not-beat');
    expect(mixed.splitsWon).toBe(1);
    expect(mixed.meanDifference).toBeCloseTo(0.05, 12);
  });

  it('without a merge, the only target stands for fusion; with several, the best one, said so', () => {
    const single = fusionVerdict({
      models: [model('c', 'control'), model('t', 'target')],
      evaluation: [row('c', 'a', 2), row('t', 'a', 1.5)],
    });
    expect(single).toMatchObject({ status: 'beat', fused: 't' });
    const several = fusionVerdict({
      models: [model('c', 'control'), model('t1', 'target'), model('t2', 'target')],
      evaluation: [row('c', 'a', 2), row('t1', 'a', 2.5), row('t2', 'a', 2.1)],
    });
    expect(several).toMatchObject({ status: 'did-not-beat', fused: 't2' });
    expect(several.sentence).toContain('no merge in this run: the best target stands for fusion');
  });

  it('says when there is no control, no fused model or no split both were evaluated on', () => {
    expect(
      fusionVerdict({
        models: [model('p', 'pivot'), model('m', 'merged')],
        evaluation: [row('p', 'a', 3), row('m', 'a', 2)],
      }),
    ).toMatchObject({ status: 'no-control', fused: 'm' });
    expect(fusionVerdict({ models: [model('c', 'control')], evaluation: [row('c', 'a', 2)] }).status).toBe(
      'no-fused-model',
    );
    // A model with no evaluation row is not "the" merged model.
    expect(
      fusionVerdict({ models: [model('c', 'control'), model('m', 'merged')], evaluation: [row('c', 'a', 2)] })
        .status,
    ).toBe('no-fused-model');
    const disjoint = fusionVerdict({
      models: [model('c', 'control'), model('m', 'merged')],
      evaluation: [row('c', 'a', 2), row('m', 'b', 1), row('m', 'a', Number.NaN)],
    });
    expect(disjoint.status).toBe('no-common-split');
  });
});
