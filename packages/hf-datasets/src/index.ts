export {
  EXPORT_MANIFEST_FILE,
  type ExportedColumn,
  type ExportHfDatasetOptions,
  type ExportHfDatasetSummary,
  exportStoreToHfDataset,
} from './export-store-to-hf-dataset.js';
export {
  type ColumnKind,
  type ColumnSpec,
  exportColumns,
  featureOf,
  type HfFeature,
} from './fusechat-columns.js';
export { DEFAULT_SHARD_BYTES, dataFileName } from './hf-dataset-files.js';
export { IGNORE_INDEX } from './record-batch-builder.js';
