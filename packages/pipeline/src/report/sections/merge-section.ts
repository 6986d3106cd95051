import { layerIndexOf, type MergeReport, mergeReportSpec } from '@fusechat/merge';
import { renderVegaLite } from '@fusechat/plots';
import type { MergeRecord, PipelineResults } from '../../results/pipeline-results.js';
import { html, type SafeHtml, trustedHtml } from '../html.js';

/** Per-tensor merge weights: merge's own report chart, and every tensor's weights as a heat table. */
export async function mergeSection(results: PipelineResults): Promise<SafeHtml> {
  const merge = results.merge;
  if (merge === undefined) {
    return html`<section id="merge"><h2>Merge weights</h2><p class="muted">No merge in this run (one source, or no <code>merge</code> in the config): the target is the fused model.</p></section>`;
  }
  const svg = await renderVegaLite(mergeReportSpec(asMergeReport(merge)));
  return html`<section id="merge"><h2>Merge weights</h2>
<p class="note">Method <code>${merge.method}</code> over ${merge.models.length} targets (${merge.models.join(', ')}), parameters <code>${JSON.stringify(merge.parameters)}</code>. ${
    merge.method === 'variation-ratio'
      ? 'VaRM weighs each target per tensor by its share of the squared change against the pivot: W_j = mean(δ_j²) / Σ_k mean(δ_k²).'
      : 'Weights are the configured ones (the method chooses none per tensor).'
  }</p>
<figure class="merge-weights">${trustedHtml(svg)}</figure>
<details class="merge-table"><summary>Every tensor’s weights (${merge.tensorWeights.length} tensors)</summary>
<table class="heat"><thead><tr><th>tensor</th>${merge.models.map((model) => html`<th class="number">${model}</th>`)}</tr></thead><tbody>${merge.tensorWeights.map(
    (tensor) =>
      html`<tr><td class="mono">${tensor.tensor}</td>${tensor.weights.map((weight) => heatCell(weight))}</tr>`,
  )}</tbody></table></details></section>`;
}

/** A weight cell shaded by its value (0 white → 1 blue). */
function heatCell(weight: number): SafeHtml {
  const share = Number.isFinite(weight) ? Math.min(1, Math.max(0, weight)) : 0;
  const lightness = Math.round(97 - share * 45);
  return html`<td class="heat" style="${`background: hsl(212, 80%, ${lightness}%)${share > 0.6 ? '; color: #fff' : ''}`}">${
    Number.isFinite(weight) ? weight.toFixed(3) : '—'
  }</td>`;
}

/** The merge record in the shape of merge's own report, so the chart is the one `fusechat merge` draws. */
function asMergeReport(merge: MergeRecord): MergeReport {
  return {
    formatVersion: 1,
    mergeMethod: merge.method,
    baseModel: undefined,
    models: merge.models,
    seed: 0,
    config: merge.parameters,
    warnings: [],
    tensors: merge.tensorWeights.map((tensor) => ({
      name: tensor.tensor,
      shape: [],
      dtype: '',
      layer: layerIndexOf(tensor.tensor),
      weights: tensor.weights,
    })),
    layers: [],
    seconds: 0,
    inputBytes: 0,
    outputBytes: 0,
  };
}
