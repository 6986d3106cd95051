import { ALIGNED_POSITION_RULES } from '@fusechat/tokenizer-alignment';
import type {
  AlignmentRecord,
  AlignmentRule,
  AlignmentSample,
  PipelineResults,
} from '../../results/pipeline-results.js';
import { formatNumber, formatPercent } from '../format.js';
import { html, jsonForScript, type SafeHtml, visibleToken } from '../html.js';

const RULE_LABELS: Record<AlignmentRule, string> = {
  'one-to-one': 'one-to-one',
  'many-to-one': 'many-to-one',
  'one-hot': 'fallback one-hot',
  'pivot-fallback': 'pivot-fallback',
};

/**
 * The alignment viewer: per source, how often each re-indexing rule filled a pivot position, and
 * sample conversations in both tokenizations where each pivot token shows (on click, or in its
 * tooltip without script) its DTW-aligned source tokens, the rule and the top aligned entries.
 */
export function alignmentSection(results: PipelineResults): SafeHtml {
  if (results.alignment.length === 0) {
    return html`<section id="alignment"><h2>Alignment viewer</h2><p class="muted">No source was aligned in this run.</p></section>`;
  }
  let sampleIndex = 0;
  return html`<section id="alignment"><h2>Alignment viewer</h2>
<p class="note">Each source’s tokens are DTW-aligned to the pivot’s and its top-k distributions re-indexed onto pivot positions and ids (DESIGN §3). Click a pivot token (or focus it and press Enter) to see its aligned source tokens, the rule used and the top entries of the distribution training reads; click a source token for the pivot positions it was aligned to.</p>
<p class="note">${ALIGNED_POSITION_RULES.map(
    (rule) =>
      html`<span class="legend"><span class="swatch rule-${rule}"></span>${RULE_LABELS[rule]}</span> `,
  )}</p>
${results.alignment.map((record) => {
  const samples = record.samples.map((sample) => alignmentSample(record, sample, sampleIndex++));
  return html`<div class="alignment-source" data-source="${record.source}"><h3>${record.source} → pivot <span class="badge">mapping ${record.mapping}</span></h3>${ruleCounts(record)}${
    samples.length === 0 ? html`<p class="muted">No sample conversations were recorded.</p>` : samples
  }</div>`;
})}</section>`;
}

function ruleCounts(record: AlignmentRecord): SafeHtml {
  const total = ALIGNED_POSITION_RULES.reduce((sum, rule) => sum + (record.ruleCounts[rule] ?? 0), 0);
  const share = (rule: AlignmentRule) => (total === 0 ? 0 : (record.ruleCounts[rule] ?? 0) / total);
  return html`<div class="rule-bar" role="img" aria-label="${ALIGNED_POSITION_RULES.map((rule) => `${RULE_LABELS[rule]} ${formatPercent(share(rule))}`).join(', ')}">${ALIGNED_POSITION_RULES.map(
    (rule) => html`<span class="rule-${rule}" style="${`width: ${(share(rule) * 100).toFixed(3)}%`}"></span>`,
  )}</div>
<table class="rule-counts"><thead><tr><th>rule</th><th class="number">pivot positions</th><th class="number">share</th></tr></thead><tbody>${ALIGNED_POSITION_RULES.map(
    (rule) =>
      html`<tr data-rule="${rule}"><td><span class="swatch rule-${rule}"></span>${RULE_LABELS[rule]}</td><td class="number">${formatNumber(record.ruleCounts[rule] ?? 0, 15)}</td><td class="number">${formatPercent(share(rule))}</td></tr>`,
  )}</tbody></table><p class="note">Over all ${formatNumber(total, 15)} pivot positions of the aligned store.</p>`;
}

function alignmentSample(record: AlignmentRecord, sample: AlignmentSample, index: number): SafeHtml {
  const ruleIndex = (rule: AlignmentRule) => ALIGNED_POSITION_RULES.indexOf(rule);
  const data = {
    positions: sample.positions.map((position) => [
      position.sourcePositions,
      ruleIndex(position.rule),
      // Four decimals are more than the panel shows (0.1%) and keep the page small.
      position.top.map((entry) => [visibleToken(entry.token), Math.round(entry.probability * 1e4) / 1e4]),
    ]),
  };
  const pivotTokens = sample.pivotTokens.map((token, i) => {
    const position = sample.positions[i];
    const rule = position?.rule ?? 'pivot-fallback';
    const aligned = (position?.sourcePositions ?? [])
      .map((j) => visibleToken(sample.sourceTokens[j] ?? '?'))
      .join(' ');
    // The tooltip (the view without script) names the rule and the aligned tokens; the panel adds the entries.
    const title = `#${i} ${RULE_LABELS[rule]} ← ${aligned || 'nothing'}`;
    return html`<span class="token rule-${rule}" data-i="${i}" tabindex="0" role="button" title="${title}">${visibleToken(token)}</span>`;
  });
  const sourceTokens = sample.sourceTokens.map(
    (token, j) =>
      html`<span class="token" data-j="${j}" tabindex="0" role="button">${visibleToken(token)}</span>`,
  );
  return html`<details class="alignment-sample" data-sample-id="${sample.id}" id="${`alignment-sample-${index}`}"${
    index === 0 ? html` open` : ''
  }><summary>${record.source}: example <code>${sample.id}</code> — ${sample.pivotTokens.length} pivot tokens, ${sample.sourceTokens.length} source tokens</summary>
<script type="application/json" class="alignment-data">${jsonForScript(data)}</script>
<div class="filters">show: ${ALIGNED_POSITION_RULES.map(
    (rule) =>
      html`<label class="rule-filter-label"><input type="checkbox" class="rule-filter" value="${rule}" checked> <span class="swatch rule-${rule}"></span>${RULE_LABELS[rule]}</label>`,
  )}</div>
<div class="muted">pivot tokenization</div><div class="tokens pivot-tokens">${pivotTokens}</div>
<div class="muted">${record.source} tokenization</div><div class="tokens source-tokens">${sourceTokens}</div>
<div class="alignment-detail" aria-live="polite">Click a pivot token to see its aligned source tokens, its rule and its top entries.</div></details>`;
}
