import { createReadStream } from 'node:fs';
import { mkdir, readdir, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { TruncationPolicy } from '@fusechat/chat-data';
import type { Logger, TokenizerLike } from '@fusechat/core';
import {
  alignStore,
  type CaptureExample,
  captureDistributions,
  createLocalCaptureIdentity,
  createLocalProvider,
  createRemoteProvider,
  type LogitsProvider,
  remoteCaptureIdentity,
  VOCABULARY_MAP_FILE,
} from '@fusechat/distribution-capture';
import { openStore, type StoreIdentity } from '@fusechat/distribution-store';
import { mergeModels } from '@fusechat/merge';
import { type CausalLM, createModel, generate, loadModel, type ModelConfig } from '@fusechat/model';
import { buildVocabularyMap, type CoTokenizedText } from '@fusechat/tokenizer-alignment';
import { createChatDataset, evaluateDataset, train } from '@fusechat/training';
import { buildAlignmentRecord } from '../report/build-alignment-record.js';
import { calibrateStore, type StoreCalibration } from './store-size.js';

/** What a short real capture over a sample of the data measured. */
export interface CaptureCalibration {
  /** `loadModel` wall time. */
  readonly loadSeconds: number;
  /** Real tokens per second of the timed capture (after a warm-up capture). */
  readonly tokensPerSecond: number;
  readonly sampleExamples: number;
  readonly sampleTokens: number;
  readonly store: StoreCalibration;
  /** The calibration store (the align calibration reads it). */
  readonly storeDir: string;
}

/** Options of {@link calibrateCapture}. */
export interface CalibrateCaptureOptions {
  readonly modelDir: string;
  readonly tokenizer: TokenizerLike;
  readonly chatTemplate: string | null;
  readonly data: string;
  /** Tokenised examples of the sample, in data order (the first one also warms up). */
  readonly sample: readonly CaptureExample[];
  readonly k: number;
  readonly maxLength: number;
  readonly truncation: TruncationPolicy;
  readonly batchTokens?: number | undefined;
  readonly nextTokenLogProbs: boolean;
  /** A scratch directory (removed by the caller). */
  readonly workDir: string;
}

/**
 * Captures a sample of the data with the real model and the same code as the capture stage
 * (`captureDistributions` + the local provider), into a scratch store: after a warm-up capture of
 * one example, the timed capture gives this machine's tokens per second, and the store its bytes
 * per token (brotli-compressed blocks depend on the model's logits, so they are measured, not
 * assumed).
 */
export async function calibrateCapture(options: CalibrateCaptureOptions): Promise<CaptureCalibration> {
  const started = performance.now();
  const model = await loadModel(options.modelDir);
  const loadSeconds = (performance.now() - started) / 1000;
  try {
    const provider = createLocalProvider(model, options.tokenizer, { batchTokens: options.batchTokens });
    const identity = await createLocalCaptureIdentity({
      modelDir: options.modelDir,
      tokenizer: options.tokenizer,
      dataFile: options.data,
      chatTemplate: options.chatTemplate,
      capture: {
        k: options.k,
        maxLength: options.maxLength,
        truncation: options.truncation,
        skipInvalid: false,
        limit: null,
        templateVariables: null,
      },
    });
    const { warmUpSeconds: _warmUp, ...timed } = await timeSampleCapture(provider, identity, options);
    return { loadSeconds, ...timed };
  } finally {
    model.dispose();
  }
}

/**
 * The timed part of a capture calibration, the same for a local model and a server: one example
 * as a warm-up, then the whole sample into `workDir/store`, whose bytes per token are measured.
 */
async function timeSampleCapture(
  provider: LogitsProvider,
  identity: StoreIdentity,
  options: {
    readonly sample: readonly CaptureExample[];
    readonly k: number;
    readonly nextTokenLogProbs: boolean;
    readonly workDir: string;
  },
): Promise<Omit<CaptureCalibration, 'loadSeconds'> & { readonly warmUpSeconds: number }> {
  const capture = (examples: readonly CaptureExample[], out: string) =>
    captureDistributions({
      provider,
      examples,
      out,
      k: options.k,
      identity,
      store: { nextTokenLogProbs: options.nextTokenLogProbs },
    });
  let started = performance.now();
  await capture(options.sample.slice(0, 1), join(options.workDir, 'warm-up'));
  const warmUpSeconds = (performance.now() - started) / 1000;
  const storeDir = join(options.workDir, 'store');
  started = performance.now();
  const summary = await capture(options.sample, storeDir);
  const seconds = (performance.now() - started) / 1000;
  return {
    warmUpSeconds,
    tokensPerSecond: summary.tokens / seconds,
    sampleExamples: summary.examples,
    sampleTokens: summary.tokens,
    store: await calibrateStore(storeDir),
    storeDir,
  };
}

/** Options of {@link calibrateRemoteCapture}. */
export interface CalibrateRemoteCaptureOptions {
  readonly endpoint: string;
  readonly modelName: string;
  readonly dialect: 'vllm' | 'sglang';
  readonly apiKey?: string | undefined;
  readonly concurrency?: number | undefined;
  /** The served model's tokenizer, loaded from `tokenizerDir` (whose `config.json`, if any, gives the model's vocabulary size). */
  readonly tokenizer: TokenizerLike;
  readonly tokenizerDir: string;
  readonly chatTemplate: string | null;
  /** The data file the stage captures (its hash goes into the store identity, as the stage's does). */
  readonly data: string;
  /** Tokenised examples of the sample, in data order (the first one also warms up). */
  readonly sample: readonly CaptureExample[];
  readonly k: number;
  readonly maxLength: number | undefined;
  readonly truncation: TruncationPolicy;
  readonly nextTokenLogProbs: boolean;
  /** Attempts per request before the calibration gives up (default 1: a plan should not wait long for a dead server). */
  readonly maxRetries?: number | undefined;
  readonly logger?: Logger | undefined;
  /** A scratch directory (removed by the caller). */
  readonly workDir: string;
}

/**
 * {@link calibrateCapture} for a source on an inference server, with the capture stage's own
 * client (`createRemoteProvider`: the server checks — engine, model name, tokenizer agreement —
 * then token-id prompts with prompt log-probabilities at the configured concurrency): after a
 * warm-up capture of one example, the timed capture of the sample gives the server's tokens per
 * second as this machine sees it, and the store its bytes per token. `loadSeconds` is the server
 * checks plus the warm-up.
 */
export async function calibrateRemoteCapture(
  options: CalibrateRemoteCaptureOptions,
): Promise<CaptureCalibration> {
  const started = performance.now();
  const provider = await createRemoteProvider({
    endpoint: options.endpoint,
    modelName: options.modelName,
    tokenizer: options.tokenizer,
    dialect: options.dialect,
    apiKey: options.apiKey,
    concurrency: options.concurrency,
    maxRetries: options.maxRetries ?? 1,
    logger: options.logger,
  });
  // The capture options as captureDataFile records them, so the calibration store has the
  // identity the stage's store will have (the align calibration checks that).
  const maxLength = options.maxLength ?? provider.maxSequenceLength;
  const identity = await remoteCaptureIdentity({
    modelName: options.modelName,
    provider,
    tokenizer: options.tokenizer,
    tokenizerDir: options.tokenizerDir,
    data: options.data,
    chatTemplate: options.chatTemplate,
    capture: {
      k: options.k,
      maxLength: maxLength ?? null,
      truncation: maxLength === undefined ? null : options.truncation,
      skipInvalid: false,
      limit: null,
      templateVariables: null,
    },
  });
  const loadSeconds = (performance.now() - started) / 1000;
  const timed = await timeSampleCapture(provider, identity, options);
  // The warm-up belongs to the setup here: the server checks and the first request.
  const { warmUpSeconds, ...rest } = timed;
  return { ...rest, loadSeconds: loadSeconds + warmUpSeconds };
}

/** What aligning the calibration stores measured. */
export interface AlignCalibration {
  /** Building the vocabulary map (`statistics`: over the sample's alignments). */
  readonly mapSeconds: number;
  /** Bytes of `vocabulary-map.json`. */
  readonly mapBytes: number;
  /** Bytes of the alignment viewer's record (`alignment.json`; 0 if it could not be built). */
  readonly recordBytes: number;
  /** Pivot tokens re-indexed per second (after the map). */
  readonly tokensPerSecond: number;
  readonly store: StoreCalibration;
  readonly workers: number;
}

/** Options of {@link calibrateAlign}. */
export interface CalibrateAlignOptions {
  readonly pivotStoreDir: string;
  readonly sourceStoreDir: string;
  readonly pivotTokenizer: TokenizerLike;
  readonly sourceTokenizer: TokenizerLike;
  readonly mapping: string;
  readonly workers?: number | undefined;
  readonly workDir: string;
}

/**
 * Builds the vocabulary map as the align stage does and re-indexes the source's calibration store
 * onto the pivot's with `alignStore`: the map's build time (fixed for `exact` and
 * `min-edit-distance`, growing with the corpus for `statistics`), the re-indexing rate and the
 * aligned store's bytes per pivot token (rows hold at most k entries, often fewer).
 */
export async function calibrateAlign(options: CalibrateAlignOptions): Promise<AlignCalibration> {
  const pivot = await openStore(options.pivotStoreDir, { requireComplete: true });
  const source = await openStore(options.sourceStoreDir, { requireComplete: true });
  try {
    let started = performance.now();
    const corpus = async function* (): AsyncGenerator<CoTokenizedText> {
      for await (const pivotRecord of pivot) {
        const sourceRecord = await source.getById(pivotRecord.id);
        if (sourceRecord === undefined) continue;
        yield { sourceIds: Array.from(sourceRecord.inputIds), pivotIds: Array.from(pivotRecord.inputIds) };
      }
    };
    const map = await buildVocabularyMap(options.sourceTokenizer, options.pivotTokenizer, {
      method: options.mapping,
      corpus: options.mapping === 'statistics' ? corpus() : undefined,
      workers: options.workers,
    });
    const mapSeconds = (performance.now() - started) / 1000;
    const out = join(options.workDir, 'aligned');
    started = performance.now();
    const summary = await alignStore({
      pivot,
      source,
      pivotTokenizer: options.pivotTokenizer,
      sourceTokenizer: options.sourceTokenizer,
      vocabularyMap: map,
      out,
      workers: options.workers,
    });
    const seconds = (performance.now() - started) / 1000;
    const mapBytes = (await stat(join(out, VOCABULARY_MAP_FILE))).size;
    // The alignment viewer's record (`align/<source>/alignment.json`): a fixed number of sample
    // conversations, so the calibration stores' record is the size the stage's will be.
    const record = await buildAlignmentRecord({
      source: 'calibration',
      pivotStorePath: options.pivotStoreDir,
      sourceStorePath: options.sourceStoreDir,
      alignedStorePath: out,
      vocabularyMapPath: join(out, VOCABULARY_MAP_FILE),
      pivotTokenizer: options.pivotTokenizer,
      sourceTokenizer: options.sourceTokenizer,
      mapping: options.mapping,
    }).catch(() => undefined);
    return {
      mapSeconds,
      mapBytes,
      recordBytes: record === undefined ? 0 : Buffer.byteLength(`${JSON.stringify(record, null, 2)}\n`),
      tokensPerSecond: summary.pivotTokens / seconds,
      store: await calibrateStore(out, [VOCABULARY_MAP_FILE]),
      workers: summary.workers,
    };
  } finally {
    await Promise.all([pivot.close(), source.close()]);
  }
}

/** What a few timed training steps measured. */
export interface TrainingCalibration {
  /** Seconds of one optimizer step at the calibrated shape (median of the timed steps). */
  readonly secondsPerStep: number;
  readonly batch: number;
  readonly time: number;
  /** Saving the final model, metrics and loss curve after the last step. */
  readonly finishSeconds: number;
}

/** Options of {@link calibrateTraining}. */
export interface CalibrateTrainingOptions {
  /** The pivot's config: targets and the control have its shape. */
  readonly config: ModelConfig;
  readonly batch: number;
  readonly time: number;
  /** Teacher entries per position (0: CLM only, the control). */
  readonly k: number;
  /** Timed steps after one warm-up step (default 3). */
  readonly steps?: number | undefined;
  /** Data-parallel replicas, as the train stages will run (default 1). */
  readonly workers?: number | 'auto' | undefined;
  readonly workDir: string;
}

/**
 * Times optimizer steps of `train` (AdamW, λ-combined loss when `k > 0`) on a randomly
 * initialised model of the pivot's config at one batch shape; the first step (kernel compilation,
 * allocation) is excluded.
 */
export async function calibrateTraining(options: CalibrateTrainingOptions): Promise<TrainingCalibration> {
  const steps = options.steps ?? 3;
  const { config, batch, time, k } = options;
  const model: CausalLM = createModel(config, { seed: 1 });
  try {
    const examples = Array.from({ length: batch }, (_, row) => {
      const inputIds = Array.from({ length: time }, (_, t) => (row * 7919 + t * 104729) % config.vocabSize);
      const labels = inputIds.map((id, t) => (t < time / 4 ? -100 : id));
      if (k === 0) return { inputIds, labels };
      const ids = inputIds.map((_, t) =>
        Array.from({ length: k }, (_, slot) => (t * 31 + slot * 17) % config.vocabSize),
      );
      const logits = inputIds.map(() => Array.from({ length: k }, (_, slot) => -slot * 0.5));
      return { inputIds, labels, targets: { ids, logits } };
    });
    const dataset = arrayDataset(examples, batch);
    const stamps: number[] = [];
    const started = performance.now();
    await train({
      model,
      dataset,
      training: { learningRate: 1e-4, maxSteps: steps + 1, loggingSteps: steps + 1, seed: 1 },
      outputDir: join(options.workDir, `train-${k}`),
      resume: 'never',
      workers: options.workers,
      callbacks: [{ onStepEnd: () => void stamps.push(performance.now()) }],
    });
    const ended = performance.now();
    const durations = stamps.slice(1).map((stamp, index) => (stamp - stamps[index]!) / 1000);
    durations.sort((a, b) => a - b);
    const secondsPerStep =
      durations.length > 0 ? durations[Math.floor(durations.length / 2)]! : (ended - started) / 1000;
    return {
      secondsPerStep,
      batch,
      time,
      finishSeconds: (ended - (stamps.at(-1) ?? started)) / 1000,
    };
  } finally {
    model.dispose();
  }
}

/** What a real merge of the pivot's shape measured. */
export interface MergeCalibration {
  readonly seconds: number;
  /** Bytes read (every input's safetensors). */
  readonly inputBytes: number;
  /** Bytes of the output directory: weights, config, tokenizer files, merge report. */
  readonly outputBytes: number;
  /** Of which safetensors. */
  readonly outputWeightBytes: number;
}

/**
 * Merges the pivot with `models` links to itself (the targets have its shape) with the configured
 * method through `mergeModels`: its wall time, bytes read and the output's size.
 */
export async function calibrateMerge(options: {
  readonly pivotDir: string;
  readonly models: number;
  readonly method: string;
  readonly dtype?: string | undefined;
  readonly workDir: string;
}): Promise<MergeCalibration> {
  await mkdir(options.workDir, { recursive: true });
  const links: string[] = [];
  for (let index = 0; index < options.models; index++) {
    const link = join(options.workDir, `target-${index}`);
    await symlink(options.pivotDir, link, 'dir');
    links.push(link);
  }
  const out = join(options.workDir, 'merged');
  const config = {
    merge_method: options.method,
    base_model: options.pivotDir,
    models: links.map((model) => ({ model })),
    ...(options.dtype === undefined ? {} : { dtype: options.dtype }),
  };
  const started = performance.now();
  await mergeModels(config, { out });
  const seconds = (performance.now() - started) / 1000;
  const inputWeightBytes = await safetensorsBytes(options.pivotDir);
  return {
    seconds,
    inputBytes: inputWeightBytes * (options.models + 1),
    outputBytes: await directoryBytes(out),
    outputWeightBytes: await safetensorsBytes(out),
  };
}

/** What generating a few tokens measured. */
export interface GenerationCalibration {
  /** One decoding step with the KV cache (the prefill excluded). */
  readonly secondsPerToken: number;
  /** The prefill pass over a prompt of `promptTokens` and the first token. */
  readonly prefillSeconds: number;
  readonly promptTokens: number;
}

/**
 * Times `generate` on a random model of `config`, after a warm-up generation: one token after a
 * prompt of `promptTokens` (the prefill), then `1 + tokens` tokens; the difference over `tokens`
 * is the cost of one cached decoding step. A generation of `n` tokens then costs
 * `prefillSeconds + (n − 1) · secondsPerToken`.
 */
export async function calibrateGeneration(
  config: ModelConfig,
  tokens = 8,
  promptTokens = 16,
): Promise<GenerationCalibration> {
  const model = createModel(config, { seed: 2 });
  try {
    const prompt = Array.from(
      { length: Math.max(1, promptTokens) },
      (_, t) => (t * 131 + 7) % config.vocabSize,
    );
    const timed = async (count: number) => {
      const started = performance.now();
      const result = await generate(model, prompt, { maxNewTokens: count, minNewTokens: count, seed: 1 });
      return { seconds: (performance.now() - started) / 1000, tokens: result.tokens.length };
    };
    await timed(2);
    const first = await timed(1);
    const more = await timed(1 + tokens);
    return {
      prefillSeconds: first.seconds,
      secondsPerToken: Math.max(0, more.seconds - first.seconds) / Math.max(1, more.tokens - first.tokens),
      promptTokens: prompt.length,
    };
  } finally {
    model.dispose();
  }
}

/** Options of {@link calibrateEvaluation}: how the eval stage reads one split. */
export interface CalibrateEvaluationOptions {
  /** The split's data file; its first `examples` examples are scored. */
  readonly dataFile: string;
  readonly tokenizer: TokenizerLike;
  readonly chatTemplate?: string | undefined;
  readonly batchSize: number;
  readonly maxLength?: number | undefined;
  /** Examples scored (default two batches). */
  readonly examples?: number | undefined;
  /** Scratch directory for the sample file. */
  readonly workDir: string;
}

/**
 * Times the eval stage's own calls — `createChatDataset` then `evaluateDataset` (λ = 1) — on a
 * random model of `config` over the first examples of a split, after a warm-up pass over the
 * same batches: tokens (prompt and response, as the forward sees them) per second of scoring.
 */
export async function calibrateEvaluation(
  config: ModelConfig,
  options: CalibrateEvaluationOptions,
): Promise<{ readonly tokensPerSecond: number; readonly tokens: number }> {
  const wanted = options.examples ?? 2 * options.batchSize;
  const lines: string[] = [];
  const reader = createInterface({ input: createReadStream(options.dataFile), crlfDelay: Infinity });
  try {
    for await (const line of reader) {
      if (line.trim() !== '') lines.push(line);
      if (lines.length >= wanted) break;
    }
  } finally {
    reader.close();
  }
  await mkdir(options.workDir, { recursive: true });
  const sampleFile = join(options.workDir, 'eval-sample.jsonl');
  await writeFile(sampleFile, `${lines.join('\n')}\n`);
  const model = createModel(config, { seed: 3 });
  const dataset = await createChatDataset({
    dataFile: sampleFile,
    tokenizer: options.tokenizer,
    chatTemplate: options.chatTemplate,
    batchSize: options.batchSize,
    maxLength: options.maxLength,
  });
  try {
    const settings = { lmLossWeight: 1, distillLossType: 'ce' } as const;
    await evaluateDataset(model, dataset, settings, 1);
    const started = performance.now();
    await evaluateDataset(model, dataset, settings, 1);
    const seconds = (performance.now() - started) / 1000;
    const tokens = dataset.padding.tokens;
    return { tokensPerSecond: tokens / Math.max(seconds, 1e-6), tokens };
  } finally {
    await dataset.close?.();
    model.dispose();
  }
}

/** Bytes of the `.safetensors` files of a model directory. */
export async function safetensorsBytes(dir: string): Promise<number> {
  let bytes = 0;
  for (const name of await readdir(dir))
    if (name.endsWith('.safetensors')) bytes += (await stat(join(dir, name))).size;
  return bytes;
}

/** Bytes of every file under `dir` (recursively; symbolic links not followed). */
export async function directoryBytes(dir: string): Promise<number> {
  let bytes = 0;
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) bytes += await directoryBytes(path);
    else if (entry.isFile()) bytes += (await stat(path)).size;
  }
  return bytes;
}

/** A fixed in-memory dataset of `examples` (one batch of all of them, every epoch). */
function arrayDataset(
  examples: readonly {
    inputIds: number[];
    labels: number[];
    targets?: { ids: number[][]; logits: number[][] };
  }[],
  batchSize: number,
): Parameters<typeof train>[0]['dataset'] {
  const time = examples[0]!.inputIds.length;
  const hasTargets = examples[0]!.targets !== undefined;
  const k = hasTargets ? examples[0]!.targets!.ids[0]!.length : 0;
  let supervisedPositions = 0;
  for (const example of examples)
    for (let t = 1; t < time; t++) if (example.labels[t] !== -100) supervisedPositions++;
  return {
    examples: examples.length,
    batchesPerEpoch: Math.ceil(examples.length / batchSize),
    hasTargets,
    fingerprint: `plan-calibration-${examples.length}x${time}x${k}`,
    async batch() {
      const targets = hasTargets
        ? {
            shape: [examples.length, time, k] as [number, number, number],
            ids: Int32Array.from(examples.flatMap((example) => example.targets!.ids.flat())),
            logits: Float32Array.from(examples.flatMap((example) => example.targets!.logits.flat())),
          }
        : undefined;
      return {
        exampleIds: examples.map((_, index) => `calibration-${index}`),
        inputIds: examples.map((example) => example.inputIds),
        attentionMask: examples.map(() => Array<number>(time).fill(1)),
        labels: examples.map((example) => example.labels),
        targets,
        supervisedPositions,
        tokens: examples.length * time,
        paddedTokens: examples.length * time,
      };
    },
  };
}
