import type { PipelineResults } from '../../results/pipeline-results.js';
import { html, type SafeHtml } from '../html.js';

/** The same prompts completed by several models (pivot, targets, the fused model). */
export function samplesSection(results: PipelineResults): SafeHtml {
  if (results.samples.length === 0) {
    return html`<section id="samples"><h2>Samples</h2><p class="muted">No samples in this run (<code>report.samples.prompts</code> in the config).</p></section>`;
  }
  const decoding = results.samples[0]!.decoding;
  return html`<section id="samples"><h2>Samples</h2>${decoding === undefined ? undefined : html`<p class="muted">Decoding: ${decoding}.</p>`}${results.samples.map(
    (
      sample,
      index,
    ) => html`<div class="sample" data-sample="${index}"><h3>Prompt ${index + 1}</h3><pre class="prompt">${sample.prompt}</pre>
<div class="completion">${sample.completions.map(
      (completion) => html`<div class="model">${completion.model}</div><pre>${completion.text}</pre>`,
    )}</div></div>`,
  )}</section>`;
}
