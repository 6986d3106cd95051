import type { ParameterSetting } from '@fusechat/merge';
import type { TrainConfigInput } from '@fusechat/training';
import type { PipelineConfigInput } from './pipeline-config-schema.js';

/** A local model: a Hugging Face directory on this machine. */
export interface ResolvedLocalModel {
  readonly kind: 'local';
  readonly name: string;
  /** Absolute directory (a Hugging Face id is resolved to its cache snapshot by `loadPipelineConfig`). */
  readonly model: string;
  /** The reference as written (a path relative to the config, or `ORG/NAME[@revision]`). */
  readonly reference: string;
  readonly chatTemplate: string | undefined;
}

/** A source captured from an inference server. */
export interface ResolvedRemoteModel {
  readonly kind: 'remote';
  readonly name: string;
  readonly endpoint: string;
  readonly modelName: string;
  /** Absolute directory of the served model's tokenizer files. */
  readonly tokenizer: string;
  readonly dialect: 'vllm' | 'sglang';
  readonly apiKeyEnv: string | undefined;
  readonly concurrency: number;
  readonly chatTemplate: string | undefined;
}

export type ResolvedSource = (ResolvedLocalModel | ResolvedRemoteModel) & {
  /** Vocabulary mapping onto the pivot (`exact`, `min-edit-distance`, `statistics`). */
  readonly mapping: string;
};

export interface ResolvedDataFile {
  readonly name: string;
  /** Absolute path. */
  readonly path: string;
}

/**
 * A validated pipeline config: paths absolute (resolved against the config file's directory),
 * defaults filled in, names normalised (merge method and fusion function as their registries
 * spell them).
 */
export interface ResolvedPipelineConfig {
  readonly name: string;
  /** The config file (absent when parsed from an object). */
  readonly configPath: string | undefined;
  /** Directory relative paths were resolved against. */
  readonly baseDir: string;
  /** Absolute run directory. */
  readonly runDir: string;
  readonly seed: number;
  readonly pivot: ResolvedLocalModel;
  readonly sources: readonly ResolvedSource[];
  readonly data: {
    readonly train: string;
    readonly validation: readonly ResolvedDataFile[];
    readonly test: readonly ResolvedDataFile[];
  };
  readonly capture: {
    readonly topK: number;
    readonly maxLength: number | undefined;
    readonly truncation: 'keep-first' | 'keep-last' | 'refuse';
    /** Explicit `batch_tokens`, else `batch_size × max_length`, else 4096. */
    readonly batchTokens: number;
  };
  readonly training: {
    /** Train the CLM-only control (`train/control`). */
    readonly control: boolean;
    /**
     * The optimisation keys as a `fusechat train` config spells them (`lm_loss_weight`,
     * `per_device_train_batch_size`, `fusion: min_ce`, `seed`, …): the train stage adds the
     * model, stores and output directory and validates it with `parseTrainConfig`.
     */
    readonly trainConfig: Readonly<
      Omit<
        TrainConfigInput,
        'model_name_or_path' | 'output_dir' | 'pivot_store' | 'aligned_stores' | 'train_file'
      >
    >;
  };
  readonly merge: {
    /** Registry name (`variation_ratio`, `ties`, …). */
    readonly method: string;
    readonly parameters: Readonly<Record<string, ParameterSetting>>;
    /** Per-target parameters keyed by source name. */
    readonly models: Readonly<Record<string, Readonly<Record<string, ParameterSetting>>>>;
    readonly dtype: 'float32' | 'float16' | 'bfloat16' | undefined;
  };
  readonly eval: { readonly batchSize: number; readonly maxLength: number | undefined };
  readonly report: {
    readonly samples: {
      readonly prompts: readonly string[];
      readonly maxNewTokens: number;
      /** How the samples are decoded: the same for every model (greedy by default). */
      readonly decoding: SampleDecoding;
    };
  };
  /** The config as written (after validation). */
  readonly input: PipelineConfigInput;
}

/** The decoding of the report's samples (transformers' names in the config, camelCase here). */
export interface SampleDecoding {
  readonly temperature: number;
  readonly topK?: number;
  readonly topP: number;
  readonly repetitionPenalty: number;
  readonly noRepeatNgramSize: number;
  readonly minNewTokens: number;
  readonly seed: number;
}
