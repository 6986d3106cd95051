import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '@fusechat/backend';
import { readDataFile, tokenizeExample } from '@fusechat/chat-data';
import type { CaptureExample } from '@fusechat/distribution-capture';
import { captureLocalModel, captureRemoteModel } from '@fusechat/distribution-capture';
import { MANIFEST_FILE } from '@fusechat/distribution-store';
import { readModelConfig } from '@fusechat/model';
import { loadTokenizer } from '@fusechat/tokenizer-alignment';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFixtureServer } from '../../../distribution-capture/src/remote-provider/testing/fixture-server.js';
import type { StagePrediction } from '../results/pipeline-results.js';
import {
  calibrateCapture,
  calibrateEvaluation,
  calibrateGeneration,
  calibrateMerge,
  calibrateRemoteCapture,
  calibrateTraining,
} from './calibrate.js';
import { checkPlanFits, planShortfalls } from './check-plan-fits.js';
import { countDataTokens } from './count-data-tokens.js';
import { formatPlan } from './format-plan.js';
import { readMachineResources } from './machine-resources.js';
import {
  captureMemory,
  evaluationMemory,
  forwardActivationBytes,
  type ModelShape,
  mergeMemory,
  modelParameters,
  TRAINING_WORKER_OVERHEAD_BYTES,
  trainingMemory,
  withRetainedHeap,
} from './memory-model.js';
import { PipelinePlanError } from './pipeline-plan-error.js';
import { MISTRAL_TEMPLATE, QWEN3_TOKENIZER, writeTinyPipeline } from './plan-fixtures.js';
import { chooseSample, planPipeline, planRecord } from './plan-pipeline.js';
import { calibrateStore, predictStoreBytes, shardIndexBytes, storeDiskBytes } from './store-size.js';

describe('the planner', () => {
  let root: string;
  const path = (...parts: string[]) => join(root, ...parts);

  beforeAll(async () => {
    await initBackend('wasm', { quiet: true });
    root = mkdtempSync(join(tmpdir(), 'fusechat-plan-'));
  }, 60_000);

  afterAll(() => {
    rmSync(root, { recursive: true, force: true });
  });

  it('counts tokens exactly: pre-tokenised lines by hand, truncation at max_length', async () => {
    const file = path('ids.jsonl');
    writeFileSync(
      file,
      [
        JSON.stringify({ input_ids: [1, 5, 6, 7, 2] }),
        JSON.stringify({ input_ids: [1, 9, 2], labels: [-100, 9, 2] }),
        '',
        JSON.stringify({ input_ids: [1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 2] }),
      ].join('\n'),
    );
    const mistral = await loadTokenizer((await import('./plan-fixtures.js')).MISTRAL_TOKENIZER);
    const counts = await countDataTokens(file, { tokenizer: mistral, maxLength: 8 });
    // 5 + 3 + min(12, 8); supervised: 5 (no labels: all) + 2 + 8.
    expect(counts).toMatchObject({
      examples: 3,
      tokens: 16,
      supervisedTokens: 15,
      truncated: 1,
      lengths: [5, 3, 8],
    });
  });

  it('counts chat tokens as capture renders them (the chat template, assistant-only labels)', async () => {
    const { MISTRAL_TOKENIZER } = await import('./plan-fixtures.js');
    const mistral = await loadTokenizer(MISTRAL_TOKENIZER);
    const file = path('chat.jsonl');
    writeFileSync(
      file,
      `${JSON.stringify({
        messages: [
          { role: 'user', content: 'Hi' },
          { role: 'assistant', content: 'Hello there.' },
        ],
      })}\n`,
    );
    const counts = await countDataTokens(file, { tokenizer: mistral, chatTemplate: MISTRAL_TEMPLATE });
    // Rendered "<s>User: Hi\nAssistant: Hello there.</s>", encoded without added specials.
    const rendered = mistral.encode('<s>User: Hi\nAssistant: Hello there.</s>', { addSpecialTokens: false });
    expect(counts.tokens).toBe(rendered.length);
    expect(counts.supervisedTokens).toBeGreaterThan(0);
    expect(counts.supervisedTokens).toBeLessThan(counts.tokens);
  });

  it('predicts the bytes of a real captured store within 3% from a calibration on a quarter of the data', async () => {
    const input = await writeTinyPipeline(path('store'), { examples: 160 });
    const modelDir = input.pivot.modelDir;
    const tokenizer = await loadTokenizer(modelDir);
    const options = { tokenizer, chatTemplate: MISTRAL_TEMPLATE, maxLength: 128 } as const;
    const counts = await countDataTokens(input.data.train, options);
    const indices = chooseSample(counts.lengths, counts.tokens / 4);
    const sample: CaptureExample[] = [];
    let index = 0;
    for await (const example of readDataFile(input.data.train)) {
      if (!indices.has(index++)) continue;
      const result = tokenizeExample(example, options);
      sample.push({ id: result.id, inputIds: result.inputIds, labelMask: result.labelMask });
    }
    const calibration = await calibrateCapture({
      modelDir,
      tokenizer,
      chatTemplate: MISTRAL_TEMPLATE,
      data: input.data.train,
      sample,
      k: 10,
      maxLength: 128,
      truncation: 'keep-first',
      nextTokenLogProbs: true,
      workDir: path('store', 'calibration'),
    });
    expect(calibration.sampleTokens).toBeLessThan(counts.tokens / 2);
    const predicted = predictStoreBytes(calibration.store, counts);

    const out = path('store', 'real');
    const summary = await captureLocalModel({
      modelDir,
      data: input.data.train,
      out,
      k: 10,
      maxLength: 128,
      chatTemplateFile: path('store', 'template.jinja'),
    });
    expect(summary.manifest.tokens).toBe(counts.tokens);
    expect(summary.manifest.examples).toBe(counts.examples);
    expect(summary.manifest.supervisedTokens).toBe(counts.supervisedTokens);
    const actual = await storeDiskBytes(out);
    expect(Math.abs(predicted.bytes - actual) / actual).toBeLessThan(0.03);
    // The index files are exactly the documented layout.
    for (const shard of summary.manifest.shards) {
      expect(statSync(join(out, shard.indexFile)).size).toBe(shardIndexBytes(shard.blocks, shard.examples));
    }
    expect(predicted.blocks).toBe(summary.manifest.shards.reduce((sum, shard) => sum + shard.blocks, 0));
    expect(await calibrateStore(out)).toMatchObject({ examples: counts.examples, tokens: counts.tokens });
  }, 240_000);

  it('adds memory up as hand-computed for a small config', () => {
    // H 4, I 8, one layer, 2 heads of 2, 1 kv head; batch 2 × 3.
    const shape: ModelShape = {
      vocabSize: 10,
      hiddenSize: 4,
      intermediateSize: 8,
      numHiddenLayers: 1,
      numAttentionHeads: 2,
      numKeyValueHeads: 1,
      headDim: 2,
    };
    // Per token: 6·4 + 6·4 + 3·4 + 6·2 + 2 + 2·4 + 5·8 + 2·4 = 130 values; 6 tokens → 780 values.
    // Attention 3 · 2 · 2 · 3 · 3 = 108 values. Embedding + final norm 4 · 4 · 6 = 96 values.
    expect(forwardActivationBytes(shape, { batch: 2, time: 3 })).toBe((780 + 108 + 96) * 4);
    const parameters = 1000;
    const training = trainingMemory(shape, {
      baselineBytes: 100,
      parameters,
      batch: { batch: 2, time: 3 },
      k: 3,
    });
    expect(training).toEqual({
      baseline: 100,
      weights: 4000,
      gradients: 4000,
      optimizer: 8000,
      activations: 2 * 984 * 4,
      logits: 4 * 6 * 10 * 4, // logits, log-softmax, its gradient, the logits' gradient
      buffers: 6 * 3 * 2 * 4, // fused targets: ids + values
      retained: 0,
      total: 100 + 16000 + 7872 + 960 + 144,
    });
    // Two data-parallel replicas, one micro-batch per step (split by rows): the worker adds its
    // thread, its weights and gradients, its shared gradient buffer and the shared weight buffer;
    // the micro-batch's activations and logits are split between the replicas, not doubled.
    const parallel = trainingMemory(shape, {
      baselineBytes: 100,
      parameters,
      batch: { batch: 2, time: 3 },
      k: 3,
      workers: 2,
    });
    expect(parallel).toMatchObject({
      baseline: 100 + TRAINING_WORKER_OVERHEAD_BYTES,
      weights: 3 * 4000,
      gradients: 3 * 4000,
      optimizer: 8000,
      activations: 2 * 984 * 4,
      logits: 4 * 6 * 10 * 4,
      total: training.total + TRAINING_WORKER_OVERHEAD_BYTES + 16000,
    });
    // Two micro-batches per step on two replicas: each runs a whole one at the same time.
    const whole = trainingMemory(shape, {
      baselineBytes: 100,
      parameters,
      batch: { batch: 2, time: 3 },
      k: 3,
      workers: 2,
      accumulation: 2,
    });
    expect(whole).toMatchObject({
      activations: 2 * 2 * 984 * 4,
      logits: 2 * 4 * 6 * 10 * 4,
      buffers: 2 * 144,
    });
    // Capture: the forward's 3936 B beat the logits phase (hidden rows 2·6·4·4 = 192 + one chunk
    // of all 6 rows × 10 × 4 × 2 copies = 480); the transposed head 10 × 4 × 4.
    const capture = captureMemory(shape, { baselineBytes: 100, parameters, batch: { batch: 2, time: 3 } });
    expect(capture).toMatchObject({
      activations: 3936,
      logits: 0,
      buffers: 160,
      total: 100 + 4000 + 3936 + 160,
    });
    // A vocabulary of 1000: the logits phase wins (chunk rows ⌊256 MiB / 12000⌋ ≥ 6).
    const wide = captureMemory(
      { ...shape, vocabSize: 1000 },
      { baselineBytes: 0, parameters, batch: { batch: 2, time: 3 } },
    );
    expect(wide).toMatchObject({ activations: 192, logits: 6 * 1000 * 4 * 2, buffers: 1000 * 4 * 4 });
    // A logits budget of 2 rows' worth: chunks of ⌊(2·1000·12)/(1000·12)⌋ = 2 rows.
    expect(
      captureMemory(
        { ...shape, vocabSize: 1000 },
        { baselineBytes: 0, parameters, batch: { batch: 2, time: 3 }, logitsBudgetBytes: 24_000 },
      ).logits,
    ).toBe(2 * 1000 * 8);
    expect(
      evaluationMemory(shape, { baselineBytes: 0, parameters, batch: { batch: 2, time: 3 } }).logits,
    ).toBe(3 * 6 * 10 * 4);
    expect(mergeMemory({ baselineBytes: 7, inputs: 3, largestTensor: 100 }).total).toBe(7 + 5 * 100 * 4);
  });

  it('carries a heap that never shrinks from the calibrations through the stages, by hand', () => {
    const MB = 1024 ** 2;
    const stage = (id: string, weights: number, logits: number, buffers: number) => {
      const memory = mergeMemory({ baselineBytes: 100 * MB, inputs: 1, largestTensor: 0 });
      const parts = { ...memory, weights, logits, buffers, total: 100 * MB + weights + logits + buffers };
      return { id, memory: parts, peakMemoryBytes: parts.total };
    };
    // The heap held 10 MB when planning began (inside the 100 MB baseline) and 300 MB after it.
    const carried = withRetainedHeap(
      [
        stage('small', 20 * MB, 30 * MB, 5 * MB), // needs 50 MB of heap: the 300 MB heap stays, 240 retained
        stage('large', 100 * MB, 400 * MB, 0), // needs 500 MB: the heap grows to 510, nothing retained
        stage('after', 10 * MB, 0, 7 * MB), // needs 10 MB: the heap stays 510, 510 − 10 − 10 = 490 retained
      ],
      { atStart: 10 * MB, afterPlanning: 300 * MB },
    );
    expect(carried.map((item) => item.memory.retained / MB)).toEqual([240, 0, 490]);
    // total = (baseline − heap at start) + heap during the stage + JS-side buffers
    expect(carried.map((item) => item.peakMemoryBytes / MB)).toEqual([90 + 300 + 5, 90 + 510, 90 + 510 + 7]);
    for (const item of carried) expect(item.memory.total).toBe(item.peakMemoryBytes);
  });

  it('counts parameters from the architecture (tied embeddings counted once)', async () => {
    const input = await writeTinyPipeline(path('params'), { examples: 4 });
    const { config } = await readModelConfig(input.pivot.modelDir);
    // embed 32000·16 + 2 layers · (q 16·16 + k 8·16 + v 8·16 + o 16·16 + gate/up/down 3·32·16 + 2 norms 16) + norm 16.
    expect(modelParameters(config)).toBe(32000 * 16 + 2 * (256 + 128 + 128 + 256 + 3 * 512 + 32) + 16);
  }, 60_000);

  it('refuses a plan that does not fit, naming every stage and the shortfall', () => {
    const stage = (id: string, diskBytes: number, peakMemoryBytes: number): StagePrediction => ({
      id,
      kind: id.split('/')[0] as StagePrediction['kind'],
      seconds: 1,
      peakMemoryBytes,
      diskBytes,
      basis: 'test',
    });
    const stages = [
      stage('capture/pivot', 600, 50),
      stage('capture/qwen', 600, 300),
      stage('train/qwen', 100, 80),
    ];
    expect(planShortfalls(stages, { freeDiskBytes: 10_000, memoryBytes: 1000 })).toEqual([]);
    const limits = { freeDiskBytes: 1000, memoryBytes: 100 };
    expect(planShortfalls(stages, limits)).toEqual([
      {
        stage: 'capture/qwen',
        resource: 'disk',
        neededBytes: 1200,
        availableBytes: 1000,
        shortfallBytes: 200,
      },
      {
        stage: 'capture/qwen',
        resource: 'memory',
        neededBytes: 300,
        availableBytes: 100,
        shortfallBytes: 200,
      },
      { stage: 'train/qwen', resource: 'disk', neededBytes: 1300, availableBytes: 1000, shortfallBytes: 300 },
    ]);
    let error: unknown;
    try {
      checkPlanFits(stages, limits);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(PipelinePlanError);
    expect((error as PipelinePlanError).code).toBe('PIPELINE_PLAN_DOES_NOT_FIT');
    expect((error as PipelinePlanError).shortfalls).toHaveLength(3);
    expect((error as Error).message).toContain(
      'capture/qwen: memory 300 B needed, 100 B available — short by 200 B',
    );
    // Output already in the run directory counts as done.
    expect(planShortfalls(stages, { ...limits, existingDiskBytes: { 'capture/qwen': 600 } })).toHaveLength(1);
  });

  it('reads the free disk of the run directory (or its nearest parent) and the available memory', async () => {
    const resources = await readMachineResources(path('not', 'yet', 'there'));
    expect(resources.diskPath).toBe(root);
    expect(resources.freeDiskBytes).toBeGreaterThan(0);
    expect(resources.availableMemoryBytes).toBeGreaterThan(0);
    expect(resources.availableMemoryBytes).toBeLessThanOrEqual(resources.totalMemoryBytes);
  });

  it('calibrates training, generation and merge throughput to finite positive numbers', async () => {
    const input = await writeTinyPipeline(path('calibrate'), { examples: 4 });
    const { config } = await readModelConfig(input.pivot.modelDir);
    const training = await calibrateTraining({
      config,
      batch: 2,
      time: 16,
      k: 4,
      steps: 2,
      workDir: path('calibrate', 'train'),
    });
    expect(Number.isFinite(training.secondsPerStep) && training.secondsPerStep > 0).toBe(true);
    const generation = await calibrateGeneration(config, 3, 12);
    expect(Number.isFinite(generation.secondsPerToken) && generation.secondsPerToken > 0).toBe(true);
    expect(generation.prefillSeconds).toBeGreaterThan(0);
    expect(generation.promptTokens).toBe(12);
    const tokenizer = await loadTokenizer(input.pivot.modelDir);
    const evaluation = await calibrateEvaluation(config, {
      dataFile: input.data.test![0]!.path,
      tokenizer,
      chatTemplate: MISTRAL_TEMPLATE,
      batchSize: 2,
      workDir: path('calibrate', 'eval'),
    });
    // Two batches of two: the tokens of the first four test conversations as capture counts them.
    const counts = await countDataTokens(input.data.test![0]!.path, {
      tokenizer,
      chatTemplate: MISTRAL_TEMPLATE,
    });
    expect(evaluation.tokens).toBe(counts.lengths.slice(0, 4).reduce((a, b) => a + b, 0));
    expect(Number.isFinite(evaluation.tokensPerSecond) && evaluation.tokensPerSecond > 0).toBe(true);
    const merge = await calibrateMerge({
      pivotDir: input.pivot.modelDir,
      models: 2,
      method: 'variation_ratio',
      workDir: path('calibrate', 'merge'),
    });
    expect(Number.isFinite(merge.seconds) && merge.seconds > 0).toBe(true);
    expect(merge.inputBytes).toBe(3 * statSync(join(input.pivot.modelDir, 'model.safetensors')).size);
    // The same tensors in the pivot's dtype; only the header's metadata differs.
    const pivotBytes = statSync(join(input.pivot.modelDir, 'model.safetensors')).size;
    expect(Math.abs(merge.outputWeightBytes - pivotBytes)).toBeLessThan(1024);
  }, 180_000);

  it("times a remote source with its server (the stage's own client), and says why one that does not answer is untimed", async () => {
    const input = await writeTinyPipeline(path('remote'), { examples: 40 });
    const server = await startFixtureServer({
      engine: 'vllm',
      tokenizer: await loadTokenizer(QWEN3_TOKENIZER),
      modelName: 'fixture/qwen',
    });
    try {
      const remote = {
        endpoint: server.url,
        modelName: 'fixture/qwen',
        tokenizerDir: QWEN3_TOKENIZER,
        mapping: 'exact',
      };
      const plan = await planPipeline(
        {
          ...input,
          sources: [
            { name: 'served', ...remote },
            // Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
            { name: 'down', ...remote, endpoint: 'http://127.0.0.1:9' },
          ],
        },
        { refuse: false, sampleTokens: 2048, trainingSteps: 1 },
      );
      const stage = (id: string) => plan.stages.find((item) => item.id === id)!;
      expect(server.requests.some((request) => request.url.includes('completions'))).toBe(true);
      expect(stage('capture/served').seconds).toBeGreaterThan(0);
      expect(stage('capture/served').basis).toMatch(/tokens\/s from http:\/\/127\.0\.0\.1:\d+/);
      expect(stage('align/served').seconds).toBeGreaterThan(0);
      expect(stage('align/served').basis).not.toContain('not calibrated');
      expect(stage('capture/down').seconds).toBe(0);
      expect(stage('capture/down').basis).toMatch(
        /time not predicted \(remote http:\/\/127\.0\.0\.1:9: the server did not answer/,
      );
      expect(stage('align/down').basis).toMatch(/not calibrated \(remote source: the server did not answer/);
      // The disk prediction of the timed source (a sample of 2/3 of the tokens) against a real
      // capture of all the data from the same server, as the local store test does.
      const out = path('remote', 'real-store');
      const summary = await captureRemoteModel({
        ...remote,
        dialect: 'vllm',
        data: input.data.train,
        out,
        k: input.capture.topK,
        maxLength: input.capture.maxLength,
      });
      const real = await storeDiskBytes(out);
      expect(Math.abs(stage('capture/served').diskBytes / real - 1)).toBeLessThan(0.03);
      expect(summary.examples).toBe(40);
      // The calibration store has the identity the stage's store gets (what the align calibration
      // checks), written independently by captureRemoteModel above.
      const tokenizer = await loadTokenizer(QWEN3_TOKENIZER);
      const sample: CaptureExample[] = [];
      for await (const example of readDataFile(input.data.train)) {
        const result = tokenizeExample(example, { tokenizer, maxLength: input.capture.maxLength });
        sample.push({ id: result.id, inputIds: result.inputIds, labelMask: result.labelMask });
        if (sample.length === 3) break;
      }
      const calibration = await calibrateRemoteCapture({
        ...remote,
        dialect: 'vllm',
        tokenizer,
        chatTemplate: tokenizer.chatTemplate ?? null,
        data: input.data.train,
        sample,
        k: input.capture.topK,
        maxLength: input.capture.maxLength,
        truncation: 'keep-first',
        nextTokenLogProbs: true,
        workDir: path('remote', 'calibration'),
      });
      const identityOf = async (dir: string) =>
        JSON.parse(await readFile(join(dir, MANIFEST_FILE), 'utf8')).identity;
      expect(await identityOf(calibration.storeDir)).toEqual(await identityOf(out));
      const off = await planPipeline(
        { ...input, sources: [{ name: 'served', ...remote }] },
        { refuse: false, sampleTokens: 1024, trainingSteps: 1, remoteCalibration: false },
      );
      expect(off.stages.find((item) => item.id === 'capture/served')!.basis).toContain(
        'remote calibration off',
      );
    } finally {
      await server.close();
    }
  }, 600_000);

  it('plans every stage of a small pipeline and refuses a fake tiny disk and memory', async () => {
    const input = await writeTinyPipeline(path('pipeline'), { examples: 40 });
    const plan = await planPipeline(input, { refuse: false, sampleTokens: 1024, trainingSteps: 1 });
    expect(plan.stages.map((stage) => stage.id)).toEqual([
      'capture/pivot',
      'capture/qwen',
      'align/qwen',
      'train/qwen',
      'train/control',
      'eval',
      'report',
    ]);
    for (const stage of plan.stages) {
      expect(Number.isFinite(stage.seconds) && stage.seconds >= 0).toBe(true);
      expect(stage.peakMemoryBytes).toBeGreaterThanOrEqual(plan.baselineBytes);
      expect(stage.diskBytes).toBeGreaterThan(0);
      expect(stage.basis.length).toBeGreaterThan(0);
    }
    expect(plan.fits).toBe(true);
    expect(formatPlan(plan)).toContain('capture/qwen');
    // `train` saves a checkpoint at its last step even below save_steps (default 500).
    expect(plan.stages.find((stage) => stage.id === 'train/qwen')!.basis).toContain('+ 1 checkpoint(s)');
    // The sample prompts are completed in the eval stage, by every model.
    expect(plan.stages.find((stage) => stage.id === 'eval')!.basis).toMatch(
      /1 sample prompts × 4 tokens × \d+ models/,
    );
    expect(planRecord(plan).stages[0]).not.toHaveProperty('memory');
    // No scratch files left behind: the run directory was never created.
    expect(readdirSync(path('pipeline'))).not.toContain('run');

    const resources = { ...plan.resources, freeDiskBytes: 1024, availableMemoryBytes: 0 };
    let error: unknown;
    try {
      await planPipeline(input, { resources, baselineBytes: 1, sampleTokens: 1024, trainingSteps: 1 });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(PipelinePlanError);
    const shortfalls = (error as PipelinePlanError).shortfalls;
    const first = shortfalls.find((item) => item.resource === 'disk')!;
    expect(first.stage).toBe('capture/pivot');
    expect(first.shortfallBytes).toBe(first.neededBytes - 1024);
    expect(shortfalls.filter((item) => item.resource === 'memory').map((item) => item.stage)).toContain(
      'train/qwen',
    );
  }, 300_000);
});
