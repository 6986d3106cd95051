import type { ModelRecord, PipelineResults } from '../../results/pipeline-results.js';
import { formatLoss, formatNumber, formatPercent, formatSigned } from '../format.js';
import { type FusionVerdict, fusionVerdict } from '../fusion-verdict.js';
import { html, type SafeHtml } from '../html.js';

const ROLE_ORDER: readonly (ModelRecord['role'] | 'unknown')[] = [
  'pivot',
  'control',
  'target',
  'merged',
  'source',
  'unknown',
];

/** The verdict box, the model × split table (perplexity, or loss with the switch) and MinCE's choices. */
export function resultsSection(results: PipelineResults): SafeHtml {
  const verdict = fusionVerdict(results);
  const roleOf = (name: string): ModelRecord['role'] | 'unknown' =>
    results.models.find((model) => model.name === name)?.role ?? 'unknown';
  const splits = [...new Set(results.evaluation.map((row) => row.split))];
  const names = [...new Set(results.evaluation.map((row) => row.model))].sort(
    (a, b) => ROLE_ORDER.indexOf(roleOf(a)) - ROLE_ORDER.indexOf(roleOf(b)),
  );
  const cell = (model: string, split: string) =>
    results.evaluation.find((row) => row.model === model && row.split === split);
  // Best per split among the models scored on pivot tokens (a source's own tokens are not comparable).
  const best = new Map<string, number>();
  for (const split of splits) {
    const losses = names
      .filter((name) => roleOf(name) !== 'source')
      .map((name) => cell(name, split)?.loss)
      .filter((loss): loss is number => loss !== undefined && Number.isFinite(loss));
    if (losses.length > 0) best.set(split, Math.min(...losses));
  }
  const rows = names.map((name) => {
    const role = roleOf(name);
    const losses = splits.map((split) => cell(name, split)?.loss);
    const complete = losses.every((loss) => loss !== undefined && Number.isFinite(loss));
    const mean =
      complete && losses.length > 0
        ? losses.reduce((sum, loss) => sum! + loss!, 0)! / losses.length
        : undefined;
    const classes = [role === 'control' ? 'control' : '', name === verdict.fused ? 'fused' : '']
      .filter(Boolean)
      .join(' ');
    return html`<tr class="${classes}" data-model="${name}" data-role="${role}">
<td>${name}${role === 'control' ? html`<span class="badge baseline">CLM-only control · honest baseline</span>` : ''}${
      name === verdict.fused ? html`<span class="badge">fused</span>` : ''
    }</td><td>${role}${role === 'source' ? html`<sup title="evaluated on its own tokenizer's tokens: not comparable per token">†</sup>` : ''}</td>
${splits.map((split) => {
  const row = cell(name, split);
  if (row === undefined) return html`<td class="number">—</td>`;
  const isBest = role !== 'source' && best.get(split) === row.loss;
  return html`<td class="${isBest ? 'number best' : 'number'}" title="${`loss ${row.loss} nats over ${row.tokens} tokens`}"><span class="ppl">${formatNumber(row.perplexity)}</span><span class="loss">${formatLoss(row.loss)}</span></td>`;
})}
<td class="number"><span class="ppl">${mean === undefined ? '—' : formatNumber(Math.exp(mean))}</span><span class="loss">${formatLoss(mean)}</span></td></tr>`;
  });
  const table =
    names.length === 0
      ? html`<p class="muted">No model was evaluated in this run (no <code>data.test</code> splits).</p>`
      : html`<p class="note">Held-out response perplexity per model and evaluation split (lower is better; best of the pivot-tokenizer models in bold).
<label><input type="radio" name="results-measure" value="perplexity" checked> perplexity</label>
<label><input type="radio" name="results-measure" value="loss"> loss (nats per token)</label></p>
<table class="results" id="results-table"><thead><tr><th>model</th><th>role</th>${splits.map((split) => html`<th class="number">${split}</th>`)}<th class="number">mean</th></tr></thead>
<tbody>${rows}</tbody></table>
<p class="note">The mean column is the perplexity of the mean loss over the splits. The highlighted row is the pivot fine-tuned with CLM only on the same data and steps: the baseline fusion has to beat.${
          names.some((name) => roleOf(name) === 'source')
            ? ' † Sources are scored on their own tokenizer’s tokens, so their perplexities are not comparable per token with the pivot family.'
            : ''
        }</p>`;
  return html`<section id="results"><h2>Results</h2>${verdictBox(verdict)}${table}${fusionTable(results)}</section>`;
}

function verdictBox(verdict: FusionVerdict): SafeHtml {
  const kind = verdict.status === 'beat' || verdict.status === 'did-not-beat' ? verdict.status : 'none'; // no-measurable-difference: neutral
  const detail =
    verdict.splits.length === 0
      ? ''
      : html`<table class="verdict-splits"><thead><tr><th>split</th><th class="number">${verdict.fused} loss</th><th class="number">${verdict.control} loss</th><th class="number">difference</th></tr></thead><tbody>${verdict.splits.map(
          (split) =>
            html`<tr><td>${split.split}</td><td class="number">${formatLoss(split.fusedLoss)}</td><td class="number">${formatLoss(split.controlLoss)}</td><td class="${split.difference < 0 ? 'number within' : 'number off'}">${formatSigned(split.difference)}</td></tr>`,
        )}</tbody></table>`;
  const others =
    verdict.comparisons.length === 0
      ? ''
      : html`<p class="note">${verdict.fused} against the others (mean loss over common splits, negative = fused is better): ${verdict.comparisons.map(
          (comparison, index) =>
            html`${index > 0 ? ', ' : ''}${comparison.model} (${comparison.role}) ${formatSigned(comparison.difference)}`,
        )}.</p>`;
  // The sentence's first clause is the verdict itself: bold.
  const [headline, ...rest] = verdict.sentence.split(/(?<=:) /);
  return html`<div class="verdict ${kind}" id="verdict" data-status="${verdict.status}">${
    kind !== 'none' && rest.length > 0
      ? html`<strong>${headline}</strong> ${rest.join(' ')}`
      : verdict.sentence
  }</div>${detail}${others}`;
}

function fusionTable(results: PipelineResults): SafeHtml | string {
  if (results.fusion.length === 0) return '';
  return html`<h3>Fusion choices</h3><table class="fusion"><thead><tr><th>source</th><th class="number">examples</th><th class="number">source chosen</th></tr></thead><tbody>${results.fusion.map(
    (record) =>
      html`<tr><td>${record.source}</td><td class="number">${formatNumber(record.examples, 12)}</td><td class="number">${formatPercent(record.sourceWins)}</td></tr>`,
  )}</tbody></table><p class="note">Share of training examples where the fusion function (MinCE: lower cross-entropy on the gold response) chose the source’s distribution over the pivot’s.</p>`;
}
