// The columns FuseChat's own scripts read and write, and their Hugging Face `datasets` features.
//
// Source: github.com/fanqiwan/FuseAI at commit 7d9a30729e4b5a40bca19a97e188bfc07edf0809.
// - FuseChat/train/get_data_representation.py (the "representation" of one model, step 1 of the
//   README's data construction): `input_ids`, `labels`, `attention_mask` (from
//   `SupervisedDataset`, train.py `preprocess`: int64 ids, −100 labels where not supervised, a
//   boolean mask), then `per_step_logits` / `per_step_indices` (`torch.topk` of the fp16 logits,
//   [length][k]), `metric_ce` (mean CE over supervised tokens) and, with
//   `--save_per_token_metric`, `per_step_metric_ce` ([length − 1]); saved with
//   `DatasetDict({"train": …}).save_to_disk`.
// - FuseChat/train/align_token_and_vocab.py `distribution_alignment` (step 2, lines ~650–705):
//   the pivot's `per_step_logits` / `per_step_indices` / `metric_ce` are kept, the source's aligned
//   distributions are added as `fused_per_step_logits` / `fused_per_step_indices` (a variable
//   number of entries per pivot position, possibly none) and its CE as `fused_metric_ce`;
//   `per_step_metric_ce` is deleted (`--metric_level sequence`, the README's setting).
// - FuseChat/train/data_collator.py `DataCollatorForFuse` and trainer.py `FuseTrainer` (what
//   `train.py --do_fuse` reads): every key but input_ids/attention_mask/labels is moved aside and
//   the model is called with what is left, so the training dataset must hold exactly these
//   columns (`--remove_unused_columns False` keeps them all); `per_step_logits[i][j]` is read for
//   j < len(per_step_logits[i]), the rest is padding; an empty `fused_per_step_indices[i][j]`
//   falls back to the pivot's row ("bad case").
// FuseLLM (FuseLLM/src/utils/token_alignment.py) names the aligned columns
// `per_step_aligned_logits_{i}` / `per_step_aligned_indices_{i}` / `metric_ce_aligned_{i}`
// instead; FuseChat's trainer does not read those.
import { Bool, type DataType, Field, Float32, Float64, Int64, List } from 'apache-arrow';

/** A `datasets` feature as `dataset_info.json` encodes it (datasets 2.15, FuseChat's pinned version). */
export type HfFeature =
  | { readonly dtype: 'int64' | 'bool' | 'float32' | 'float64'; readonly _type: 'Value' }
  | { readonly feature: HfFeature; readonly _type: 'Sequence' };

/** How one column's values are laid out: what the exporter fills and the test reader checks. */
export type ColumnKind =
  | 'int64-sequence'
  | 'bool-sequence'
  | 'float32-sequence'
  | 'float32-sequence-sequence'
  | 'int64-sequence-sequence'
  | 'float64';

/** One exported column. */
export interface ColumnSpec {
  readonly name: string;
  readonly kind: ColumnKind;
}

const value = (dtype: 'int64' | 'bool' | 'float32' | 'float64'): HfFeature => ({ dtype, _type: 'Value' });
const sequence = (feature: HfFeature): HfFeature => ({ feature, _type: 'Sequence' });

/** The `datasets` feature of a column kind. */
export function featureOf(kind: ColumnKind): HfFeature {
  switch (kind) {
    case 'int64-sequence':
      return sequence(value('int64'));
    case 'bool-sequence':
      return sequence(value('bool'));
    case 'float32-sequence':
      return sequence(value('float32'));
    case 'float32-sequence-sequence':
      return sequence(sequence(value('float32')));
    case 'int64-sequence-sequence':
      return sequence(sequence(value('int64')));
    case 'float64':
      return value('float64');
  }
}

// datasets' Features.arrow_schema: `Sequence(x)` is `pa.list_(x)` (child field "item", nullable),
// every field nullable. `load_from_disk` refuses a file whose schema differs from the features.
const item = (type: DataType) => new Field('item', type, true);

/** The Arrow type of a column kind, exactly as `datasets` derives it from the feature. */
export function arrowTypeOf(kind: ColumnKind): DataType {
  switch (kind) {
    case 'int64-sequence':
      return new List(item(new Int64()));
    case 'bool-sequence':
      return new List(item(new Bool()));
    case 'float32-sequence':
      return new List(item(new Float32()));
    case 'float32-sequence-sequence':
      return new List(item(new List(item(new Float32()))));
    case 'int64-sequence-sequence':
      return new List(item(new List(item(new Int64()))));
    case 'float64':
      return new Float64();
  }
}

/** Columns of the tokens: FuseChat's `SupervisedDataset`. */
const TOKEN_COLUMNS: readonly ColumnSpec[] = [
  { name: 'input_ids', kind: 'int64-sequence' },
  { name: 'attention_mask', kind: 'bool-sequence' },
  { name: 'labels', kind: 'int64-sequence' },
];

/** Columns of one model's top-k distributions and CE, under FuseChat's names (with a prefix for the source). */
function distributionColumns(prefix: '' | 'fused_'): ColumnSpec[] {
  return [
    { name: `${prefix}per_step_logits`, kind: 'float32-sequence-sequence' },
    { name: `${prefix}per_step_indices`, kind: 'int64-sequence-sequence' },
    { name: `${prefix}metric_ce`, kind: 'float64' },
  ];
}

/**
 * The columns of an export: a pivot (or any unaligned) store gives FuseChat's representation
 * dataset, plus `per_step_metric_ce` when the store has next-token log-probabilities; an aligned
 * store joined with its pivot store gives FuseChat's pairwise-fusion training dataset.
 */
export function exportColumns(options: { paired: boolean; perStepMetricCe: boolean }): ColumnSpec[] {
  if (options.paired) return [...TOKEN_COLUMNS, ...distributionColumns(''), ...distributionColumns('fused_')];
  return [
    ...TOKEN_COLUMNS,
    ...distributionColumns(''),
    ...(options.perStepMetricCe ? [{ name: 'per_step_metric_ce', kind: 'float32-sequence' as const }] : []),
  ];
}
