// The JSON files of a `datasets` directory, as `save_to_disk` writes them.
//
// Source: github.com/huggingface/datasets, tag 2.15.0 (FuseChat's requirements.txt pins
// datasets==2.15.0): src/datasets/arrow_dataset.py `Dataset.save_to_disk` (state.json: the
// `_fingerprint`, `_format_*`, `_output_all_columns` attributes, `_split`, `_data_files` with
// `data-{i:05d}-of-{n:05d}.arrow`, `json.dump(…, indent=2, sort_keys=True)`; dataset_info.json:
// `asdict(self._info)` with the first level of keys sorted, indent 2), `Dataset.load_from_disk`
// (reads both, memory-maps each data file as an IPC stream, checks the features against the
// file's schema), src/datasets/dataset_dict.py `DatasetDict.save_to_disk` (`dataset_dict.json` =
// `{"splits": [...]}` and one directory per split), src/datasets/utils/py_utils.py `asdict`
// (fields equal to their default are left out, `_type` always kept), src/datasets/arrow_writer.py
// `_build_metadata` (schema metadata `huggingface` = `{"info": {"features": …}}`) and
// src/datasets/config.py (`MAX_SHARD_SIZE = "500MB"`).
import type { HfFeature } from './fusechat-columns.js';

/** `datasets`' default `max_shard_size` of `save_to_disk` ("500MB" = 500·10⁶ bytes). */
export const DEFAULT_SHARD_BYTES = 500_000_000;

/** The split FuseChat's scripts read (`load_from_disk(path)["train"]`). */
export const SPLIT = 'train';

/** `data-00000-of-00003.arrow`, datasets' shard name. */
export function dataFileName(index: number, count: number): string {
  return `data-${String(index).padStart(5, '0')}-of-${String(count).padStart(5, '0')}.arrow`;
}

/** `state.json` of one split. */
export function stateJson(options: { files: readonly string[]; fingerprint: string }): string {
  const state = {
    _data_files: options.files.map((filename) => ({ filename })),
    _fingerprint: options.fingerprint,
    _format_columns: null,
    _format_kwargs: {},
    _format_type: null,
    _output_all_columns: false,
    _split: SPLIT,
  };
  return pythonJson(state);
}

/** `dataset_info.json` of one split (DatasetInfo of a dataset built in memory: no builder, no splits). */
export function datasetInfoJson(options: {
  features: Readonly<Record<string, HfFeature>>;
  description: string;
}): string {
  // Keys of the first level sorted, nested ones (the features: column order) as they are.
  return pythonJson({
    citation: '',
    description: options.description,
    features: options.features,
    homepage: '',
    license: '',
  });
}

/** `dataset_dict.json` at the top of a DatasetDict directory. */
export function datasetDictJson(): string {
  return JSON.stringify({ splits: [SPLIT] });
}

/** The schema metadata value datasets' ArrowWriter stores under the key `huggingface`. */
export function schemaMetadata(features: Readonly<Record<string, HfFeature>>, fingerprint: string): string {
  return JSON.stringify({ info: { features }, fingerprint });
}

/** `json.dump(value, indent=2)`: Python's layout with an indent (`",\n"`, `": "`) is JSON.stringify's. */
function pythonJson(value: unknown): string {
  return JSON.stringify(value, null, 2);
}
