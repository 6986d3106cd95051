import type { StagePrediction } from '../results/pipeline-results.js';

/** `1.5 GiB`, `320 MiB`, `12 KiB`, `512 B` (binary units). */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return String(bytes);
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = Math.abs(bytes);
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  const digits = unit === 0 || value >= 100 ? 0 : value >= 10 ? 1 : 2;
  return `${bytes < 0 ? '-' : ''}${value.toFixed(digits)} ${units[unit]}`;
}

/** `0.4 s`, `12 s`, `3 min 05 s`, `1 h 02 min`. */
export function formatSeconds(seconds: number): string {
  if (!Number.isFinite(seconds)) return String(seconds);
  if (seconds < 10) return `${seconds.toFixed(1)} s`;
  if (seconds < 60) return `${Math.round(seconds)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${String(Math.round(seconds % 60)).padStart(2, '0')} s`;
  return `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, '0')} min`;
}

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
    formatSeconds(stage.seconds),
    formatBytes(stage.peakMemoryBytes),
    formatBytes(stage.diskBytes),
    stage.basis,
  ]);
  const total = [
    'total',
    formatSeconds(plan.totals.seconds),
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
