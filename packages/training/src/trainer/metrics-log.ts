import { appendFile, readFile, rename, writeFile } from 'node:fs/promises';

/** One line of `metrics.jsonl`: a training row (`loss`…) or an evaluation row (`eval_loss`…). */
export type MetricsRow = Readonly<Record<string, number | boolean | null>> & { readonly step: number };

/** Appends one row (non-finite numbers become null: JSON has no NaN). */
export async function appendMetricsRow(file: string, row: MetricsRow): Promise<void> {
  await appendFile(
    file,
    `${JSON.stringify(row, (_, value) => (typeof value === 'number' && !Number.isFinite(value) ? null : value))}\n`,
  );
}

/** The rows of a metrics file (a torn last line — a killed writer — is dropped). */
export async function readMetricsRows(file: string): Promise<MetricsRow[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const rows: MetricsRow[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      rows.push(JSON.parse(line) as MetricsRow);
    } catch {
      // a line cut short by a kill
    }
  }
  return rows;
}

/** Rewrites the file (atomically) with the rows up to and including `step`: a resume's starting point. */
export async function truncateMetrics(file: string, step: number): Promise<void> {
  const kept = (await readMetricsRows(file)).filter((row) => row.step <= step);
  const temp = `${file}.tmp-${process.pid}`;
  await writeFile(temp, kept.map((row) => `${JSON.stringify(row)}\n`).join(''));
  await rename(temp, file);
}
