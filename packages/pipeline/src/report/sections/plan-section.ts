import type { PipelineResults, StagePrediction, StageRecord } from '../../results/pipeline-results.js';
import { formatBytes, formatSeconds } from '../format.js';
import { html, type SafeHtml } from '../html.js';

/** `fusechat plan`'s goal: a prediction within ±30% of what was measured. */
export const PLAN_TOLERANCE = 0.3;
/**
 * Below these a ratio is shown but not judged: a sub-second stage is timer noise, and a few
 * kilobytes (a results file) can neither fill a disk nor tell a good prediction from a bad one.
 */
export const PLAN_JUDGED_MINIMUM = { seconds: 1, bytes: 1024 ** 2 } as const;

/** Plan against reality per stage: time, disk and peak memory, predicted, measured and their ratio. */
export function planSection(results: PipelineResults): SafeHtml {
  const plan = results.plan;
  const predictions = new Map<string, StagePrediction>(
    (plan?.stages ?? []).map((stage) => [stage.id, stage]),
  );
  const ids = [...new Set([...results.stages.map((stage) => stage.id), ...predictions.keys()])];
  const measuredOf = (id: string) => results.stages.find((stage) => stage.id === id);
  let checked = 0;
  let within = 0;
  const ratioCell = (
    predicted: number | undefined,
    measured: number | undefined,
    stage: StageRecord | undefined,
    minimum: number,
  ) => {
    if (predicted === undefined || measured === undefined || !(predicted > 0))
      return html`<td class="number">—</td>`;
    const ratio = measured / predicted;
    // A reused stage was not measured in this run: its ratio says nothing about the plan.
    if (stage?.reused)
      return html`<td class="number" title="reused: not measured in this run">${ratio.toFixed(2)}×</td>`;
    if (Math.max(predicted, measured) < minimum)
      return html`<td class="number unjudged" title="too small to judge">${ratio.toFixed(2)}×</td>`;
    checked++;
    const ok = Math.abs(ratio - 1) <= PLAN_TOLERANCE;
    if (ok) within++;
    return html`<td class="${ok ? 'number within' : 'number off'}">${ratio.toFixed(2)}×</td>`;
  };
  const rows = ids.map((id) => {
    const predicted = predictions.get(id);
    const stage = measuredOf(id);
    const status = stage === undefined ? 'not run' : stage.reused ? 'reused' : stage.status;
    return html`<tr class="${stage?.reused ? 'reused' : ''}" data-stage="${id}"><td class="mono">${id}</td><td>${status}${
      stage?.error ? html`<br><span class="off">${stage.error.code}</span>: ${stage.error.message}` : ''
    }</td>
<td class="number">${formatSeconds(predicted?.seconds)}</td><td class="number">${formatSeconds(stage?.seconds)}</td>${ratioCell(predicted?.seconds, stage?.seconds, stage, PLAN_JUDGED_MINIMUM.seconds)}
<td class="number">${formatBytes(predicted?.diskBytes)}</td><td class="number">${formatBytes(stage?.diskBytes)}</td>${ratioCell(predicted?.diskBytes, stage?.diskBytes, stage, PLAN_JUDGED_MINIMUM.bytes)}
<td class="number">${formatBytes(predicted?.peakMemoryBytes)}</td><td class="number">${formatBytes(stage?.peakRssBytes)}</td>${ratioCell(predicted?.peakMemoryBytes, stage?.peakRssBytes, stage, PLAN_JUDGED_MINIMUM.bytes)}
<td class="note">${predicted?.basis ?? ''}</td></tr>`;
  });
  const intro =
    plan === undefined
      ? html`<p class="muted" id="no-plan">No plan was recorded for this run (run <code>fusechat plan</code> or let <code>fusechat run</code> plan first), so only the measurements are shown.</p>`
      : html`<p class="note">Plan made ${plan.createdAt}. Ratio = measured / predicted; the goal is within ±${PLAN_TOLERANCE * 100}% (stages under ${PLAN_JUDGED_MINIMUM.seconds} s or ${formatBytes(PLAN_JUDGED_MINIMUM.bytes)} are shown, not judged). Memory is the process's resident set: on the wasm backend it includes the heap that the plan's calibrations and earlier stages grew, which WebAssembly never returns. ${
          checked === 0
            ? 'No stage was measured in this run.'
            : `${within} of ${checked} predictions of stages run now are within it.`
        }</p>`;
  const machine = results.machine;
  return html`<section id="plan"><h2>Plan vs reality</h2>${intro}
<table class="plan"><thead><tr><th rowspan="2">stage</th><th rowspan="2">status</th><th colspan="3">time</th><th colspan="3">disk</th><th colspan="3">peak memory</th><th rowspan="2">basis of the prediction</th></tr>
<tr><th class="number">plan</th><th class="number">measured</th><th class="number">ratio</th><th class="number">plan</th><th class="number">measured</th><th class="number">ratio</th><th class="number">plan</th><th class="number">measured (RSS)</th><th class="number">ratio</th></tr></thead>
<tbody>${rows}</tbody></table>
<p class="note">Machine: ${machine.cpus} × ${machine.cpuModel}, ${formatBytes(machine.totalMemoryBytes)} memory${
    machine.freeDiskBytes === undefined ? '' : `, ${formatBytes(machine.freeDiskBytes)} free disk`
  }; backend ${machine.backend}; Node ${machine.node} on ${machine.platform}.</p></section>`;
}
