import type { TruncationPolicy } from '@fusechat/chat-data';
import type { ResolvedPipelineConfig } from '../config/resolved-pipeline-config.js';

/** A model the plan runs locally: a Hugging Face directory (config.json, safetensors, tokenizer). */
export interface PlanLocalModel {
  readonly name: string;
  /** Resolved model directory. */
  readonly modelDir: string;
  /** A `.jinja` file or `tokenizer_config.json` whose template replaces the model's own. */
  readonly chatTemplateFile?: string | undefined;
}

/** A source captured from a server (vLLM / SGLang): only its tokenizer is local. */
export interface PlanRemoteModel {
  readonly name: string;
  readonly endpoint: string;
  /** The served model's name (what the capture stage asks for); without it the plan does not time the server. */
  readonly modelName?: string | undefined;
  /** `vllm` (default) or `sglang`. */
  readonly dialect?: 'vllm' | 'sglang' | undefined;
  /** Environment variable holding the server's API key. */
  readonly apiKeyEnv?: string | undefined;
  /** Requests in flight (the capture stage's `concurrency`). */
  readonly concurrency?: number | undefined;
  /** Directory holding the source's tokenizer files (tokenizer.json, tokenizer_config.json). */
  readonly tokenizerDir: string;
  readonly chatTemplateFile?: string | undefined;
}

export type PlanSource = (PlanLocalModel | PlanRemoteModel) & {
  /** Vocabulary mapping of the align stage (`exact`, `min-edit-distance`, `statistics`). */
  readonly mapping: string;
};

/**
 * What the planner needs from a pipeline config, with every path resolved: the explicit form of
 * `PIPELINE.yml` (`planInputFromConfig` converts the parsed config).
 */
export interface PlanInput {
  /** Run directory (its filesystem's free space is what the disk check compares against). */
  readonly runDir: string;
  readonly pivot: PlanLocalModel;
  readonly sources: readonly PlanSource[];
  readonly data: {
    /** Chat JSONL captured by every model and trained on. */
    readonly train: string;
    readonly validation?: readonly { readonly name: string; readonly path: string }[] | undefined;
    readonly test?: readonly { readonly name: string; readonly path: string }[] | undefined;
  };
  readonly capture: {
    readonly topK: number;
    /** Longest sequence kept (default: each model's `max_position_embeddings`). */
    readonly maxLength?: number | undefined;
    readonly truncation?: TruncationPolicy | undefined;
    /** Padded tokens per forward pass of the local provider (default 4096). */
    readonly batchTokens?: number | undefined;
    /** Store per-position next-token log-probabilities (default true). */
    readonly nextTokenLogProbs?: boolean | undefined;
  };
  readonly training: {
    readonly maxSteps?: number | undefined;
    readonly numTrainEpochs?: number | undefined;
    /** Examples per micro-batch (default 8). */
    readonly batchSize?: number | undefined;
    readonly batchTokens?: number | undefined;
    readonly gradientAccumulationSteps?: number | undefined;
    readonly saveSteps?: number | undefined;
    readonly saveTotalLimit?: number | undefined;
    readonly evalSteps?: number | undefined;
    /** Longest training sequence (default: the capture's). */
    readonly maxLength?: number | undefined;
    /** Also train the CLM-only control (pivot + same data and steps, λ = 1). */
    readonly control: boolean;
  };
  /** The merge of the targets (absent: no merge stage; the pipeline merges two or more targets). */
  readonly merge?:
    | { readonly method: string; readonly dtype?: 'float32' | 'float16' | 'bfloat16' | undefined }
    | undefined;
  /** Held-out evaluation (default batch 8, each model's length limit, at most 2048). */
  readonly eval?:
    | { readonly batchSize?: number | undefined; readonly maxLength?: number | undefined }
    | undefined;
  readonly report?:
    | {
        readonly samples?: { readonly prompts: readonly string[]; readonly maxNewTokens: number } | undefined;
      }
    | undefined;
}

/** True for a source captured from a server. */
export function isRemoteSource(source: PlanSource): source is PlanRemoteModel & { mapping: string } {
  return 'endpoint' in source;
}

/**
 * The planner's input from a validated pipeline config (`loadPipelineConfig`): the same models,
 * data, capture and training settings the stages will use.
 *
 * @example
 * ```ts
 * const plan = await planPipeline(planInputFromConfig(await loadPipelineConfig('pipeline.yml')));
 * ```
 */
export function planInputFromConfig(config: ResolvedPipelineConfig): PlanInput {
  const train = config.training.trainConfig as Readonly<Record<string, unknown>>;
  const number = (key: string) => (typeof train[key] === 'number' ? (train[key] as number) : undefined);
  return {
    runDir: config.runDir,
    pivot: {
      name: config.pivot.name,
      modelDir: config.pivot.model,
      chatTemplateFile: config.pivot.chatTemplate,
    },
    sources: config.sources.map((source) =>
      source.kind === 'remote'
        ? {
            name: source.name,
            endpoint: source.endpoint,
            modelName: source.modelName,
            dialect: source.dialect,
            apiKeyEnv: source.apiKeyEnv,
            concurrency: source.concurrency,
            tokenizerDir: source.tokenizer,
            chatTemplateFile: source.chatTemplate,
            mapping: source.mapping,
          }
        : {
            name: source.name,
            modelDir: source.model,
            chatTemplateFile: source.chatTemplate,
            mapping: source.mapping,
          },
    ),
    data: { train: config.data.train, validation: config.data.validation, test: config.data.test },
    capture: {
      topK: config.capture.topK,
      maxLength: config.capture.maxLength,
      truncation: config.capture.truncation,
      batchTokens: config.capture.batchTokens,
    },
    training: {
      maxSteps: number('max_steps'),
      numTrainEpochs: number('num_train_epochs'),
      batchSize: number('per_device_train_batch_size'),
      batchTokens: number('batch_tokens'),
      gradientAccumulationSteps: number('gradient_accumulation_steps'),
      saveSteps: number('save_steps'),
      saveTotalLimit: number('save_total_limit'),
      evalSteps: number('eval_steps'),
      maxLength: number('model_max_length'),
      control: config.training.control,
    },
    merge:
      config.sources.length >= 2 ? { method: config.merge.method, dtype: config.merge.dtype } : undefined,
    eval: { batchSize: config.eval.batchSize, maxLength: config.eval.maxLength },
    report: { samples: config.report.samples },
  };
}
