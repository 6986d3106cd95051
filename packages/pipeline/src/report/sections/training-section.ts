import { renderVegaLite } from '@fusechat/plots';
import { lossCurveSpec } from '@fusechat/training';
import type { PipelineResults, TrainingCurve } from '../../results/pipeline-results.js';
import { formatLoss } from '../format.js';
import { html, type SafeHtml, trustedHtml } from '../html.js';

/** One loss curve per trained model (the control first), drawn by training's own chart spec. */
export async function trainingSection(results: PipelineResults): Promise<SafeHtml> {
  if (results.training.length === 0) {
    return html`<section id="training"><h2>Loss curves</h2><p class="muted">No model was trained in this run.</p></section>`;
  }
  const curves = [...results.training].sort((a, b) =>
    a.role === b.role ? 0 : a.role === 'control' ? -1 : 1,
  );
  const figures: SafeHtml[] = [];
  // One at a time: each chart loads a vega View; they are small.
  for (const curve of curves) figures.push(await lossFigure(curve));
  return html`<section id="training"><h2>Loss curves</h2><p class="note">Training loss per optimizer step (targets: λ·CLM + (1−λ)·fusion, with both terms; the control: CLM only).</p><div class="plots">${figures}</div></section>`;
}

async function lossFigure(curve: TrainingCurve): Promise<SafeHtml> {
  const title = `${curve.model} (${curve.role === 'control' ? 'CLM-only control' : `target of ${curve.source ?? '?'}`})`;
  const rows = curve.rows.map((row) => ({
    step: row.step,
    loss: row.loss,
    clm: row.clm,
    fusion: row.fusion,
  }));
  const svg = await renderVegaLite(lossCurveSpec(rows, { title, width: 420, height: 240 }));
  const last = curve.rows.at(-1);
  return html`<figure class="loss-curve" data-model="${curve.model}">${trustedHtml(svg)}<figcaption>${title}: ${curve.rows.length} logged steps${
    last === undefined ? '' : html`, last loss ${formatLoss(last.loss)} at step ${last.step}`
  }</figcaption></figure>`;
}
