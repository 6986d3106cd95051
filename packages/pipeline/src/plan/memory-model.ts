import { defaultArchitectureRegistry, type ModelConfig } from '@fusechat/model';

/** float32: every tensor the model packages compute with. */
const FLOAT_BYTES = 4;

/** The sizes of a decoder that memory depends on (a `ModelConfig` has them all). */
export type ModelShape = Pick<
  ModelConfig,
  | 'vocabSize'
  | 'hiddenSize'
  | 'intermediateSize'
  | 'numHiddenLayers'
  | 'numAttentionHeads'
  | 'numKeyValueHeads'
  | 'headDim'
>;

/** One padded batch of a forward pass. */
export interface BatchShape {
  readonly batch: number;
  /** Padded length (the longest row). */
  readonly time: number;
}

/**
 * Parameters of a model as its architecture's weight specs list them (what `createModel`
 * allocates and `saveModel` writes).
 *
 * @example
 * ```ts
 * const { config } = await readModelConfig('models/pivot');
 * modelParameters(config); // e.g. 2_156_800
 * ```
 */
export function modelParameters(config: ModelConfig): number {
  return defaultArchitectureRegistry
    .get(config.modelType)
    .weightSpecs(config)
    .reduce((sum, spec) => sum + spec.shape.reduce((a, b) => a * b, 1), 0);
}

/**
 * float32 values one decoder layer's forward leaves alive per token, counted from
 * `llamaFamilyForward`: a tidy keeps every intermediate until it ends (and `variableGrads` keeps
 * them for the backward pass). Two RMSNorms (square, mean, scale, weight: ≈ 3·H each), q with
 * rotary (projection, rotate-half slices and negation, ·cos, ·sin, sum: ≈ 6·q), the same for k,
 * v, the attention output and its transposes (≈ 3·q), o_proj and its residual sum (2·H), gate,
 * up and SwiGLU (sigmoid, product, product: 5·I), down and its residual sum (2·H).
 */
export function layerValuesPerToken(shape: ModelShape): number {
  const q = shape.numAttentionHeads * shape.headDim;
  const kv = shape.numKeyValueHeads * shape.headDim;
  return (
    6 * shape.hiddenSize +
    6 * q +
    3 * q +
    6 * kv +
    kv +
    2 * shape.hiddenSize +
    5 * shape.intermediateSize +
    2 * shape.hiddenSize
  );
}

/**
 * Attention's sequence-squared tensors per layer: `@fusechat/model`'s activation budget formula
 * (`2 × batch × heads × queries × keys` float32: scores and probabilities) plus the masked scores.
 */
export function attentionBytes(shape: ModelShape, batch: BatchShape): number {
  return 3 * FLOAT_BYTES * batch.batch * shape.numAttentionHeads * batch.time * batch.time;
}

/** Bytes of the hidden-state activations of a whole forward pass (every layer, no logits). */
export function forwardActivationBytes(shape: ModelShape, batch: BatchShape): number {
  const tokens = batch.batch * batch.time;
  const perLayer = layerValuesPerToken(shape) * tokens * FLOAT_BYTES + attentionBytes(shape, batch);
  // Embedding lookup, its reshape and the final norm: ≈ 4·H per token.
  return shape.numHiddenLayers * perLayer + 4 * shape.hiddenSize * tokens * FLOAT_BYTES;
}

/** What one stage's peak memory is made of (bytes); `total` is their sum. */
export interface MemoryBreakdown {
  /** The process before the stage: Node, tfjs, loaded tokenizers, the backend's initial heap. */
  readonly baseline: number;
  readonly weights: number;
  readonly gradients: number;
  readonly optimizer: number;
  readonly activations: number;
  readonly logits: number;
  readonly buffers: number;
  /**
   * WebAssembly heap that earlier work (the plan's calibrations, earlier stages) grew beyond
   * what this stage's tensors need: a wasm heap never shrinks, so it stays resident
   * ({@link withRetainedHeap}); 0 on other backends.
   */
  readonly retained: number;
  readonly total: number;
}

/** Tensor memory of a stage: what lives on the backend's heap (weights to logits). */
export function tensorBytes(memory: MemoryBreakdown): number {
  return memory.weights + memory.gradients + memory.optimizer + memory.activations + memory.logits;
}

export function breakdown(
  parts: Omit<MemoryBreakdown, 'total' | 'retained'> & { readonly retained?: number },
): MemoryBreakdown {
  const retained = parts.retained ?? 0;
  const total =
    parts.baseline +
    parts.weights +
    parts.gradients +
    parts.optimizer +
    parts.activations +
    parts.logits +
    parts.buffers +
    retained;
  return { ...parts, retained, total };
}

/** The wasm heap when planning started and after its calibrations ({@link withRetainedHeap}). */
export interface HeapHistory {
  /** Heap bytes included in each stage's `baseline` (when planning started). */
  readonly atStart: number;
  /** Heap bytes after the plan's own calibrations: where the run, in the same process, starts. */
  readonly afterPlanning: number;
}

/**
 * Stages as one process runs them on a heap that only grows (the wasm backend): during stage i
 * the heap is `max(heap before it, initial heap + stage i's tensors)`, and what it holds beyond
 * the stage's own tensors is `retained`. The heap starts where the plan's calibrations left it,
 * because `fusechat run` plans in the process it runs in.
 */
export function withRetainedHeap<
  T extends { readonly memory: MemoryBreakdown; readonly peakMemoryBytes: number },
>(stages: readonly T[], heap: HeapHistory): T[] {
  let high = heap.afterPlanning;
  return stages.map((stage) => {
    const need = tensorBytes(stage.memory);
    const during = Math.max(high, heap.atStart + need);
    high = during;
    const memory = breakdown({ ...stage.memory, retained: during - heap.atStart - need });
    return { ...stage, memory, peakMemoryBytes: memory.total };
  });
}

/** Options of {@link captureMemory}: the local provider's settings. */
export interface CaptureMemoryOptions {
  /** The process before the stage (Node + tfjs + tokenizers). */
  readonly baselineBytes: number;
  readonly parameters: number;
  /** The batch with the most tokens of the capture (`planLengthBatches` over the exact lengths). */
  readonly batch: BatchShape;
  /** The local provider's logits budget (default 256 MiB). */
  readonly logitsBudgetBytes?: number | undefined;
  /** The loaded tokenizer (measured when it was loaded). */
  readonly tokenizerBytes?: number | undefined;
}

/**
 * Peak memory of a local capture: float32 weights, the output projection's transposed copy
 * (`prepareProjection`, vocab × hidden), then the larger of two phases — the forward's tidy
 * (every layer's activations for the largest batch; freed when the hidden states are returned)
 * or the logits phase: the gathered hidden rows and one chunk of logits with its softmax (2
 * copies; the local provider sizes chunks as `⌊budget / (vocab × 4 × 3)⌋` rows).
 */
export function captureMemory(shape: ModelShape, options: CaptureMemoryOptions): MemoryBreakdown {
  const tokens = options.batch.batch * options.batch.time;
  const budget = options.logitsBudgetBytes ?? 256 * 1024 ** 2;
  const rowsPerChunk = Math.max(1, Math.floor(budget / (shape.vocabSize * FLOAT_BYTES * 3)));
  const rows = Math.min(tokens, rowsPerChunk);
  const hiddenRows = 2 * tokens * shape.hiddenSize * FLOAT_BYTES;
  const forward = forwardActivationBytes(shape, options.batch);
  const logits = rows * shape.vocabSize * FLOAT_BYTES * 2;
  const forwardPhase = forward >= hiddenRows + logits;
  return breakdown({
    baseline: options.baselineBytes,
    weights: options.parameters * FLOAT_BYTES,
    gradients: 0,
    optimizer: 0,
    activations: forwardPhase ? forward : hiddenRows,
    logits: forwardPhase ? 0 : logits,
    buffers: shape.vocabSize * shape.hiddenSize * FLOAT_BYTES + (options.tokenizerBytes ?? 0),
  });
}

/** Options of {@link trainingMemory}. */
export interface TrainingMemoryOptions {
  readonly baselineBytes: number;
  readonly parameters: number;
  /** The largest micro-batch of the run. */
  readonly batch: BatchShape;
  /** Teacher entries per position (0 for CLM-only training). */
  readonly k: number;
  /** Data-parallel replicas (default 1); each worker adds a copy of the weights and gradients. */
  readonly workers?: number | undefined;
  /** Micro-batches per optimizer step (default 1): with replicas, how many run at once. */
  readonly accumulation?: number | undefined;
}

/**
 * What a data-parallel worker thread costs beyond its weights and gradients: its V8 isolate, the
 * loaded modules and its own wasm heap. Measured with a model of the demo pivot's shape (2.15M
 * parameters, 8 × 120-token batches): 140–170 MiB for the first worker, from the build and from
 * the sources (which also load tsx in the worker).
 */
export const TRAINING_WORKER_OVERHEAD_BYTES = 160 * 1024 ** 2;

/**
 * Peak memory of full fine-tuning with AdamW: weights, gradients and the two Adam moments
 * (float32 each: 16 bytes per parameter), the forward activations kept for the backward pass and
 * as much again for their gradients, and the `[tokens, vocab]` logits with the loss's log-softmax,
 * its gradient and the logits' gradient (4 copies); the fused targets `[tokens, k]` (ids + values).
 */
export function trainingMemory(shape: ModelShape, options: TrainingMemoryOptions): MemoryBreakdown {
  const tokens = options.batch.batch * options.batch.time;
  const workers = Math.max(1, options.workers ?? 1);
  const extra = workers - 1;
  // Replicas run whole micro-batches at once when their count divides the step's; otherwise every
  // micro-batch is split by rows over them, and one micro-batch's activations are live in all.
  const concurrent = extra > 0 && (options.accumulation ?? 1) % workers === 0 ? workers : 1;
  return breakdown({
    baseline: options.baselineBytes + extra * TRAINING_WORKER_OVERHEAD_BYTES,
    // Each worker's copy, and the shared buffer the weights reach the workers through.
    weights: (1 + extra + (extra > 0 ? 1 : 0)) * options.parameters * FLOAT_BYTES,
    // Each replica's gradients, and each worker's shared buffer they come back in.
    gradients: (1 + 2 * extra) * options.parameters * FLOAT_BYTES,
    optimizer: 2 * options.parameters * FLOAT_BYTES,
    activations: concurrent * 2 * forwardActivationBytes(shape, options.batch),
    logits: concurrent * 4 * tokens * shape.vocabSize * FLOAT_BYTES,
    buffers: concurrent * tokens * options.k * 2 * FLOAT_BYTES,
  });
}

/** Options of {@link evaluationMemory}. */
export interface EvaluationMemoryOptions {
  readonly baselineBytes: number;
  readonly parameters: number;
  readonly batch: BatchShape;
}

/**
 * Peak memory of `evaluatePerplexity`: weights, one forward pass's activations and logits — it
 * runs `⌊256 MiB / (4 × time × vocab)⌋` rows of the batch per pass — with the supervised rows
 * gathered from them and `logSumExp`'s temporaries (3 copies of one pass's logits).
 */
export function evaluationMemory(shape: ModelShape, options: EvaluationMemoryOptions): MemoryBreakdown {
  const { time } = options.batch;
  const rowsPerPass = Math.max(
    1,
    Math.floor((256 * 1024 ** 2) / (FLOAT_BYTES * Math.max(1, time) * shape.vocabSize)),
  );
  const rows = Math.min(options.batch.batch, rowsPerPass);
  return breakdown({
    baseline: options.baselineBytes,
    weights: options.parameters * FLOAT_BYTES,
    gradients: 0,
    optimizer: 0,
    activations: forwardActivationBytes(shape, { batch: rows, time }),
    logits: 3 * rows * time * shape.vocabSize * FLOAT_BYTES,
    buffers: 0,
  });
}

/** Options of {@link mergeMemory}. */
export interface MergeMemoryOptions {
  readonly baselineBytes: number;
  /** Models read per tensor (the base and every target). */
  readonly inputs: number;
  /** Elements of the largest merged tensor. */
  readonly largestTensor: number;
}

/**
 * Peak memory of the streaming merge engine (`mergeModels`, one thread): one float32 buffer per
 * input sized for the largest tensor, the merged output and the one being written in the
 * background (two more), never whole models.
 */
export function mergeMemory(options: MergeMemoryOptions): MemoryBreakdown {
  return breakdown({
    baseline: options.baselineBytes,
    weights: 0,
    gradients: 0,
    optimizer: 0,
    activations: 0,
    logits: 0,
    buffers: (options.inputs + 2) * options.largestTensor * FLOAT_BYTES,
  });
}
