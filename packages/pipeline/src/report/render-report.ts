import type { PipelineResults } from '../results/pipeline-results.js';
import { formatSeconds } from './format.js';
import { html, trustedHtml } from './html.js';
import { REPORT_CSS, REPORT_SCRIPT } from './report-assets.js';
import { alignmentSection } from './sections/alignment-section.js';
import { mergeSection } from './sections/merge-section.js';
import { planSection } from './sections/plan-section.js';
import { resultsSection } from './sections/results-section.js';
import { samplesSection } from './sections/samples-section.js';
import { trainingSection } from './sections/training-section.js';

/** Options of {@link renderReport}. */
export interface RenderReportOptions {
  /** Page title (default `fusechat run: <name>`). */
  readonly title?: string | undefined;
}

/** Nothing is fetched: inline styles and scripts only; images only from data: URIs. */
const CONTENT_SECURITY_POLICY =
  "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'";

/**
 * The run's report as one static HTML document, everything inline (CSS, SVG charts rendered in
 * Node by Vega, a small script), so it opens offline from `file://` and can be mailed around:
 * the results table with the CLM-only control as the baseline and the verdict computed from the
 * numbers, the loss curves, the per-tensor merge weights, plan vs reality per stage, the samples
 * and the alignment viewer. Sections without data (no merge, no plan, …) say so. Every string
 * from the results is escaped. The same results give the same bytes.
 *
 * @example
 * ```ts
 * const results = JSON.parse(await readFile('run/results.json', 'utf8')) as PipelineResults;
 * await writeFile('report.html', await renderReport(results));
 * ```
 */
export async function renderReport(
  results: PipelineResults,
  options: RenderReportOptions = {},
): Promise<string> {
  const title = options.title ?? `fusechat run: ${results.name}`;
  // Charts one after the other: vega views are built in this thread.
  const training = await trainingSection(results);
  const merge = await mergeSection(results);
  const seconds = (Date.parse(results.finishedAt) - Date.parse(results.startedAt)) / 1000;
  const page = html`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${trustedHtml(CONTENT_SECURITY_POLICY)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="fusechat">
<title>${title}</title>
<style>${trustedHtml(REPORT_CSS)}</style></head>
<body>
<header class="top"><h1>${title}</h1>
<div class="muted">config <code title="${results.configHash}">${results.configHash.slice(0, 12)}</code> · ${results.startedAt} → ${results.finishedAt}${
    Number.isFinite(seconds) ? ` (${formatSeconds(seconds)})` : ''
  } · ${results.models.length} models · ${results.stages.length} stages</div></header>
<nav class="sections"><a href="#results">Results</a><a href="#training">Loss curves</a><a href="#merge">Merge weights</a><a href="#plan">Plan vs reality</a><a href="#samples">Samples</a><a href="#alignment">Alignment viewer</a></nav>
<main>
${resultsSection(results)}
${training}
${merge}
${planSection(results)}
${samplesSection(results)}
${alignmentSection(results)}
</main>
<script>${trustedHtml(REPORT_SCRIPT)}</script>
</body></html>
`;
  return page.value;
}
