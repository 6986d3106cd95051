/**
 * What a pipeline run measured, written as `results.json` at the root of the run directory by
 * `runPipeline` and read by the HTML report, `fusechat demo`'s terminal table and the
 * reproduction script. Plain JSON (no typed arrays), versioned by `formatVersion`.
 */
export interface PipelineResults {
  readonly formatVersion: 1;
  /** The pipeline's `name` from its config. */
  readonly name: string;
  /** SHA-256 of the resolved config (the identity of the run directory). */
  readonly configHash: string;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly machine: MachineFacts;
  /** One entry per stage that exists in the run directory, in run order. */
  readonly stages: readonly StageRecord[];
  /** The prediction `fusechat plan` made before the run (absent when planning was skipped). */
  readonly plan?: PipelinePlanRecord;
  readonly models: readonly ModelRecord[];
  /** Held-out response loss per model and evaluation split (pivot tokenizer for the pivot family). */
  readonly evaluation: readonly EvaluationRow[];
  /** Loss curves of every trained model (targets and the CLM-only control). */
  readonly training: readonly TrainingCurve[];
  /** Per source: how often MinCE (or the configured fusion) chose the source over the pivot. */
  readonly fusion: readonly FusionRecord[];
  /** Per source: the vocabulary map and sample conversations for the alignment viewer. */
  readonly alignment: readonly AlignmentRecord[];
  /** The merge of the targets (absent with one source and no merge). */
  readonly merge?: MergeRecord;
  /** The same prompt completed by several models (pivot, a target, the fused model, …). */
  readonly samples: readonly SampleRecord[];
}

export interface MachineFacts {
  readonly cpus: number;
  readonly cpuModel: string;
  readonly totalMemoryBytes: number;
  readonly freeDiskBytes?: number;
  /** e.g. `wasm [SIMD, 2 threads]`. */
  readonly backend: string;
  readonly node: string;
  readonly platform: string;
}

export type StageKind = 'capture' | 'align' | 'train' | 'merge' | 'eval' | 'report';
export type StageStatus = 'complete' | 'failed' | 'running' | 'skipped';

export interface StageRecord {
  readonly kind: StageKind;
  /** `capture/pivot`, `align/moby`, `train/moby`, `train/control`, `merge`, `eval`, `report`. */
  readonly id: string;
  readonly status: StageStatus;
  /** True when this run reused the stage's earlier output (inputs unchanged). */
  readonly reused: boolean;
  readonly seconds: number;
  /** Peak resident set size sampled while the stage ran. */
  readonly peakRssBytes: number;
  /** Bytes the stage's outputs take on disk. */
  readonly diskBytes: number;
  readonly error?: { readonly code: string; readonly message: string };
}

export interface StagePrediction {
  readonly id: string;
  readonly kind: StageKind;
  readonly seconds: number;
  readonly peakMemoryBytes: number;
  readonly diskBytes: number;
  /** How the numbers were obtained, one line (e.g. `measured 1,840 tokens/s forward × 52,000 tokens`). */
  readonly basis: string;
}

export interface PipelinePlanRecord {
  readonly createdAt: string;
  readonly stages: readonly StagePrediction[];
}

export type ModelRole = 'pivot' | 'source' | 'target' | 'control' | 'merged';

export interface ModelRecord {
  readonly name: string;
  readonly role: ModelRole;
  /** Directory of the Hugging Face checkpoint (absent for a remote source). */
  readonly path?: string;
  readonly endpoint?: string;
  readonly modelType?: string;
  readonly parameters?: number;
  readonly vocabSize: number;
  /** `▁` or `Ġ`. */
  readonly spaceMarker: string;
  /** The source a target was trained from. */
  readonly source?: string;
}

export interface EvaluationRow {
  readonly model: string;
  /** The evaluation split's name (a domain in the demo). */
  readonly split: string;
  /** Which data list the split came from: `data.validation` or `data.test` (absent: test). */
  readonly set?: 'validation' | 'test';
  readonly loss: number;
  readonly perplexity: number;
  readonly tokens: number;
}

export interface TrainingCurve {
  readonly model: string;
  readonly role: 'target' | 'control';
  readonly source?: string;
  readonly rows: readonly {
    readonly step: number;
    readonly loss: number;
    readonly clm?: number;
    readonly fusion?: number;
    readonly learningRate?: number;
  }[];
}

export interface FusionRecord {
  readonly source: string;
  readonly examples: number;
  /** Share of examples where the source's distribution was chosen (0..1). */
  readonly sourceWins: number;
}

/** How one pivot position got its target distribution (DESIGN §3, re-indexing). */
export type AlignmentRule = 'one-to-one' | 'many-to-one' | 'one-hot' | 'pivot-fallback';

export interface AlignmentRecord {
  readonly source: string;
  /** `exact`, `min-edit-distance` or `statistics`. */
  readonly mapping: string;
  /** Positions per rule over the whole aligned store. */
  readonly ruleCounts: Readonly<Record<AlignmentRule, number>>;
  readonly samples: readonly AlignmentSample[];
}

export interface AlignmentSample {
  readonly id: string;
  /** Token strings as the tokenizers' vocabularies spell them (markers kept). */
  readonly pivotTokens: readonly string[];
  readonly sourceTokens: readonly string[];
  /** One entry per pivot position. */
  readonly positions: readonly {
    readonly sourcePositions: readonly number[];
    readonly rule: AlignmentRule;
    /** The aligned distribution's first entries as pivot token strings with probabilities. */
    readonly top: readonly { readonly token: string; readonly probability: number }[];
  }[];
}

export interface MergeRecord {
  readonly method: string;
  readonly parameters: Readonly<Record<string, unknown>>;
  /** Target names in the order of `weights`. */
  readonly models: readonly string[];
  /** Per tensor, each target's effective weight (VaRM's W_j; the configured weight otherwise). */
  readonly tensorWeights: readonly { readonly tensor: string; readonly weights: readonly number[] }[];
}

export interface SampleRecord {
  readonly prompt: string;
  /** How every completion was decoded, e.g. `greedy, repetition_penalty 1.3, no_repeat_ngram_size 3`. */
  readonly decoding?: string;
  readonly completions: readonly { readonly model: string; readonly text: string }[];
}
