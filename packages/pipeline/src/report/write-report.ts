import { mkdir, open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { FuseChatError } from '@fusechat/core';
import type { PipelineResults } from '../results/pipeline-results.js';
import { type RenderReportOptions, renderReport } from './render-report.js';

/** Where {@link writeReport} puts the report inside a run directory. */
export const REPORT_FILE = join('report', 'index.html');

/**
 * Renders the report ({@link renderReport}) and writes it to `<runDir>/report/index.html` by
 * temp file + fsync + rename, so a reader sees the old report or the new one, never half.
 *
 * @throws FuseChatError `REPORT_WRITE_FAILED` (with the cause) when the file cannot be written.
 * @example
 * ```ts
 * const { path, bytes } = await writeReport(results, 'runs/my-fusion');
 * console.log(`report: ${path} (${bytes} bytes)`);
 * ```
 */
export async function writeReport(
  results: PipelineResults,
  runDir: string,
  options: RenderReportOptions = {},
): Promise<{ path: string; bytes: number }> {
  const text = await renderReport(results, options);
  const path = join(runDir, REPORT_FILE);
  const temporary = `${path}.${process.pid}.tmp`;
  try {
    await mkdir(join(runDir, 'report'), { recursive: true });
    const handle = await open(temporary, 'w');
    try {
      await handle.writeFile(text, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, path);
  } catch (cause) {
    await rm(temporary, { force: true }).catch(() => undefined);
    throw new FuseChatError(
      'REPORT_WRITE_FAILED',
      `cannot write the report ${path}: ${(cause as Error).message}`,
      {
        cause,
        details: { path },
      },
    );
  }
  return { path, bytes: Buffer.byteLength(text, 'utf8') };
}
