import { formatBytes, formatDuration } from '@fusechat/core';
import type { StagePrediction } from '../results/pipeline-results.js';

/** A throughput with 3 significant digits and thousands separators (`1,840`, `12.5`). */
export function formatRate(value: number): string {
  return value >= 100 ? Math.round(value).toLocaleString('en-US') : value.toPrecision(3);
}

/** What {@link formatPlan} prints. */
export interface FormattablePlan {
  readonly stages: readonly StagePrediction[];
  readonly totals: { readonly seconds: number; readonly peakMemoryBytes: number; readonly diskBytes: number };
}

/**
 * The plan as a text table: one row per stage (id, time, peak memory, disk, basis) and a totals
 * row (time and disk summed, memory the largest peak).
 *
 * @example
 * ```ts
 * process.stdout.write(`${formatPlan(plan)}\n`);
 * ```
 */
export function formatPlan(plan: FormattablePlan): string {
  const header = ['stage', 'time', 'peak memory', 'disk', 'basis'];
  const rows = plan.stages.map((stage) => [
    stage.id,
    formatDuration(stage.seconds),
    formatBytes(stage.peakMemoryBytes),
    formatBytes(stage.diskBytes),
    stage.basis,
  ]);
  const total = [
    'total',
    formatDuration(plan.totals.seconds),
    formatBytes(plan.totals.peakMemoryBytes),
    formatBytes(plan.totals.diskBytes),
    'time and disk summed, memory the largest peak',
  ];
  const widths = header.map((_, column) =>
    Math.max(...[header, ...rows, total].map((row) => (column === 4 ? 0 : row[column]!.length))),
  );
  const line = (row: readonly string[]) =>
    row
      .map((cell, column) =>
        column === 0 || column === 4 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!),
      )
      .join('  ')
      .trimEnd();
  const rule = widths.map((width, column) => '─'.repeat(column === 4 ? 5 : width)).join('  ');
  return [line(header), rule, ...rows.map(line), rule, line(total)].join('\n');
}
