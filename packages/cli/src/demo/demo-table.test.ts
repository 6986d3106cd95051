import type { EvaluationRow, ModelRecord } from '@fusechat/pipeline';
import { describe, expect, it } from 'vitest';
import { demoVerdict, resultsTable } from './demo-table.js';

const model = (name: string, role: ModelRecord['role'], extra: Partial<ModelRecord> = {}): ModelRecord => ({
  name,
  role,
  vocabSize: 32000,
  spaceMarker: '▁',
  ...extra,
});
const rows = (name: string, losses: Record<string, number>): EvaluationRow[] =>
  Object.entries(losses).map(([split, loss]) => ({
    model: name,
    split,
    loss,
    perplexity: Math.exp(loss),
    tokens: 100,
  }));

const models = [
  model('pivot', 'pivot'),
  model('moby-dick', 'source'),
  model('sotu', 'source', { vocabSize: 151669, spaceMarker: 'Ġ' }),
  model('control', 'control'),
  model('target-moby-dick', 'target', { source: 'moby-dick' }),
  model('target-sotu', 'target', { source: 'sotu' }),
  model('fused', 'merged'),
];

describe('the demo verdict', () => {
  it('gives no credit for a difference under 0.01 nats (one seed cannot resolve it)', () => {
    const evaluation = [
      ...rows('control', { 'moby-dick': 7.196, sotu: 6.904 }),
      ...rows('fused', { 'moby-dick': 7.195, sotu: 6.899 }),
    ];
    const { comparisons, lines } = demoVerdict({ models, evaluation });
    const fused = comparisons.find((comparison) => comparison.model === 'fused')!;
    expect(fused.lossDifference).toBeCloseTo(-0.003, 12);
    expect(fused.better).toBe(false);
    expect(lines[0]).toMatch(
      /^fused \(fused\) vs CLM-only control: no measurable difference — mean loss −0\.003 nats/,
    );
  });

  it('credits fusion only against the CLM-only control, not against the pivot', () => {
    const evaluation = [
      ...rows('pivot', { 'moby-dick': 6, sotu: 6 }),
      ...rows('control', { 'moby-dick': 5, sotu: 5 }),
      // Far better than the pivot, slightly worse than the control: no credit.
      ...rows('fused', { 'moby-dick': 5.1, sotu: 5.05 }),
      ...rows('target-moby-dick', { 'moby-dick': 4.9, sotu: 5.3 }),
      ...rows('target-sotu', { 'moby-dick': 5.2, sotu: 5.2 }),
    ];
    const verdict = demoVerdict({ models, evaluation });
    const fusedVsControl = verdict.comparisons.find((c) => c.model === 'fused' && c.baseline === 'control')!;
    expect(fusedVsControl.better).toBe(false);
    expect(fusedVsControl.lossDifference).toBeCloseTo(0.075, 12);
    expect(verdict.lines[0]).toMatch(
      /^fused \(fused\) vs CLM-only control: NOT better — mean loss \+0\.075 nats/,
    );
    // Each target is judged on its own source's domain.
    const moby = verdict.comparisons.find((c) => c.model === 'target-moby-dick')!;
    expect(moby).toMatchObject({ baseline: 'control', splits: ['moby-dick'], better: true });
    expect(moby.lossDifference).toBeCloseTo(-0.1, 12);
    // The merge against the best single target by mean loss (target-moby-dick: 5.1 vs target-sotu 5.2).
    const best = verdict.comparisons.find((c) => c.model === 'fused' && c.baseline.startsWith('target-'))!;
    expect(best.baseline).toBe('target-moby-dick');
    expect(best.lossDifference).toBeCloseTo(-0.025, 12);
    expect(best.better).toBe(true);
  });

  it('without a control, gives no credit at all', () => {
    const verdict = demoVerdict({
      models: models.filter((m) => m.role !== 'control'),
      evaluation: [...rows('pivot', { sotu: 6 }), ...rows('fused', { sotu: 1 })],
    });
    expect(verdict.lines[0]).toMatch(/No CLM-only control/);
    expect(verdict.comparisons.every((c) => c.baseline !== 'control')).toBe(true);
  });
});

describe('the results table', () => {
  it('orders models by role, prints perplexities and marks a source scored on its own vocabulary', () => {
    const evaluation = [
      ...rows('fused', { 'moby-dick': Math.log(150), sotu: Math.log(2000) }),
      ...rows('pivot', { 'moby-dick': Math.log(400), sotu: Math.log(500) }),
      ...rows('sotu', { 'moby-dick': Math.log(900), sotu: Math.log(80) }),
    ];
    const lines = resultsTable({ models, evaluation });
    expect(lines[0]).toMatch(/^model\s+moby-dick\s+sotu\s+mean loss$/);
    const body = lines.slice(2);
    expect(body[0]).toMatch(/^pivot \(pivot\)\s+400\.0\s+500\.0\s+6\.1/);
    expect(body[1]).toMatch(/^sotu \(source\)\*\s+900\.0\s+80\.0/);
    expect(body[2]).toMatch(/^fused \(merged\)\s+150\.0\s+2000\s/);
    expect(body.at(-1)).toMatch(/^\* scored per token of its own vocabulary/);
  });
});
