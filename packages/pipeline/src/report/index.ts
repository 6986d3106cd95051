export { type BuildAlignmentRecordOptions, buildAlignmentRecord } from './build-alignment-record.js';
export {
  type FusionVerdict,
  fusionVerdict,
  type VerdictComparison,
  type VerdictSplit,
} from './fusion-verdict.js';
export { type RenderReportOptions, renderReport } from './render-report.js';
export { REPORT_FILE, writeReport } from './write-report.js';
