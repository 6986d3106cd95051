export { type BuildAlignmentRecordOptions, buildAlignmentRecord } from './build-alignment-record.js';
export {
  type FusionVerdict,
  fusionVerdict,
  NEGLIGIBLE_LOSS_DIFFERENCE,
  type VerdictComparison,
  type VerdictSplit,
} from './fusion-verdict.js';
export { type RenderReportOptions, renderReport } from './render-report.js';
export { REPORT_FILE, writeReport } from './write-report.js';
