import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import {
  type CaptureRecord,
  formatDuration,
  SPACE_MARKERS,
  type SparseDistributions,
  type TokenizerLike,
} from '@fusechat/core';
import { clmLoss, combinedLoss, fuseTargets, packFusedTargets } from '@fusechat/distillation-loss';
import { mergeModels } from '@fusechat/merge';
import {
  type CausalLM,
  createModel,
  evaluatePerplexity,
  loadModel,
  type ModelConfigInput,
  saveModel,
} from '@fusechat/model';
import {
  alignCaptureRecord,
  buildVocabularyMap,
  serializeVocabularyMap,
  swapSpaceMarker,
  type VocabularyMap,
  vocabularyTokens,
} from '@fusechat/tokenizer-alignment';
import type * as tf from '@tensorflow/tfjs-core';
import { stringify as stringifyYaml } from 'yaml';
import { captureTopK } from './capture-top-k.js';
import { demoTokenizerFiles, loadDemoTokenizer } from './demo-assets.js';
import { mobyDickConversations, type TokenizedConversation, tokenizeConversation } from './demo-corpus.js';
import { makeBatch, trainDemoModel } from './train-demo-model.js';

/** Options of {@link runDemo}; the defaults take a few minutes on 2 CPU cores. */
export interface DemoOptions {
  /** Where the models, maps and merge report go. */
  readonly out: string;
  /** Moby-Dick chapters the teachers and targets train on. */
  readonly trainChapters?: readonly number[];
  /** Held-out chapters for the perplexity table. */
  readonly evalChapters?: readonly number[];
  /** Optimizer steps for the pivot teacher (fewer than the sources: the sources know more). */
  readonly pivotSteps?: number;
  /** Optimizer steps for each source teacher. */
  readonly sourceSteps?: number;
  /** Optimizer steps for each target (and for the CLM-only control). */
  readonly targetSteps?: number;
  readonly batchSize?: number;
  /** Largest conversation kept, in tokens of either tokenizer. */
  readonly maxTokens?: number;
  /** Entries kept per position by capture (FuseChat: 10). */
  readonly topK?: number;
  /** Weight of the CLM term in `λ·CLM + (1−λ)·fusion` (FuseChat: 0.9). */
  readonly lambda?: number;
  readonly seed?: number;
  /** Receives one line per event (default: nothing). */
  readonly log?: (line: string) => void;
}

/** A teacher of the demo and how its training went. */
export interface DemoTeacherSummary {
  readonly name: string;
  readonly modelType: string;
  readonly parameters: number;
  readonly vocabSize: number;
  readonly spaceMarker: string;
  readonly firstLoss: number;
  readonly lastLoss: number;
  /** Mean response CE of its capture over the training conversations. */
  readonly meanCaptureCE: number;
}

/** What {@link runDemo} did and measured. */
export interface DemoSummary {
  readonly out: string;
  readonly conversations: { readonly train: number; readonly eval: number };
  readonly teachers: readonly DemoTeacherSummary[];
  /** Per source: how its vocabulary was mapped and how the pivot positions were filled. */
  readonly alignment: readonly {
    readonly source: string;
    readonly method: string;
    /** Share of the source vocabulary whose string exists in the pivot vocabulary (marker-swapped). */
    readonly exactShare: number;
    /** Share of pivot positions whose target came from the source's aligned distribution. */
    readonly alignedShare: number;
    /** Share of pivot positions filled by the one-hot gold-token fallback. */
    readonly oneHotShare: number;
  }[];
  /** Per source: the share of conversations where MinCE chose the source over the pivot. */
  readonly fusion: readonly { readonly source: string; readonly sourceWins: number }[];
  /** Mean VaRM weight of each target over all tensors. */
  readonly mergeWeights: readonly number[];
  /** Held-out response perplexity (pivot tokenizer) of every model. */
  readonly evaluation: readonly {
    readonly model: string;
    readonly loss: number;
    readonly perplexity: number;
    readonly tokens: number;
  }[];
  readonly sample: { readonly prompt: string; readonly completion: string };
  readonly seconds: number;
}

interface Teacher {
  readonly name: string;
  readonly tokenizer: TokenizerLike;
  readonly tokenizerDirectory: string;
  readonly config: ModelConfigInput;
  readonly steps: number;
  readonly learningRate: number;
}

/** Share of `source`'s vocabulary whose marker-swapped string is also a `pivot` token. */
function sharedVocabularyShare(source: TokenizerLike, pivot: TokenizerLike): number {
  const [sourceMarker, pivotMarker] = [SPACE_MARKERS[source.spaceMarker], SPACE_MARKERS[pivot.spaceMarker]];
  const pivotTokens = new Set(vocabularyTokens(pivot));
  const sourceTokens = vocabularyTokens(source);
  const shared = sourceTokens.filter(
    (token) => token !== undefined && pivotTokens.has(swapSpaceMarker(token, sourceMarker, pivotMarker)),
  ).length;
  return shared / sourceTokens.length;
}

const parameterCount = (model: CausalLM): number =>
  [...model.weights.values()].reduce((total, weight) => total + weight.size, 0);

const mean = (values: readonly number[]): number =>
  values.length === 0 ? Number.NaN : values.reduce((a, b) => a + b, 0) / values.length;

/**
 * The built-in small FuseChat pipeline, end to end on real tokenizers and real text:
 * 1. trains three small teachers from scratch on Moby-Dick conversations — the pivot (Llama
 *    architecture, Mistral's 32k vocabulary), a Qwen2 source with Qwen3's 151k byte-level
 *    vocabulary and a larger Mistral-architecture source;
 * 2. captures each teacher's top-k next-token distributions and response CE;
 * 3. maps each source vocabulary onto the pivot's (`statistics` over the corpus) and re-indexes
 *    the sources' distributions onto pivot positions and ids (DTW alignment);
 * 4. fuses pivot and source per conversation with MinCE;
 * 5. trains one target per source from the pivot with `0.9·CLM + 0.1·fusion`, and a CLM-only
 *    control with the same steps;
 * 6. merges the targets with VaRM against the pivot;
 * 7. reports held-out perplexities and a sample of the fused model.
 * Every model is saved as a Hugging Face checkpoint under `out`.
 *
 * @example
 * ```ts
 * const summary = await runDemo({ out: 'fusechat-demo', log: console.log });
 * console.table(summary.evaluation);
 * ```
 */
export async function runDemo(options: DemoOptions): Promise<DemoSummary> {
  const started = performance.now();
  const log = options.log ?? (() => {});
  const out = options.out;
  const topK = options.topK ?? 10;
  const batchSize = options.batchSize ?? 8;
  const maxTokens = options.maxTokens ?? 48;
  const pivotSteps = options.pivotSteps ?? 20;
  const sourceSteps = options.sourceSteps ?? 60;
  const targetSteps = options.targetSteps ?? 20;
  const seed = options.seed ?? 7;
  const lambda = options.lambda ?? 0.9;
  const stage = (index: number, text: string) => log(`\n[${index}/7] ${text}`);
  const elapsed = () => formatDuration((performance.now() - started) / 1000);
  await mkdir(out, { recursive: true });

  // ── data and tokenizers ──────────────────────────────────────────────────────────────────
  const [mistral, qwen3] = await Promise.all([loadDemoTokenizer('mistral'), loadDemoTokenizer('qwen3')]);
  const tokenizerDirectory = (name: 'mistral' | 'qwen3') => dirname(demoTokenizerFiles(name).tokenizerJson);
  const tokenizeAll = (chapters: readonly number[]) => {
    const kept: { pivot: TokenizedConversation; qwen3: TokenizedConversation }[] = [];
    for (const conversation of mobyDickConversations(chapters)) {
      const pivot = tokenizeConversation(mistral, conversation);
      const source = tokenizeConversation(qwen3, conversation);
      if (pivot.inputIds.length <= maxTokens && source.inputIds.length <= maxTokens)
        kept.push({ pivot, qwen3: source });
    }
    return kept;
  };
  const train = tokenizeAll(options.trainChapters ?? [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  const held = tokenizeAll(options.evalChapters ?? [13, 14]);
  log(
    `data: ${train.length} training and ${held.length} held-out conversations from Moby-Dick ` +
      `(user quotes a sentence, assistant answers with the next; ≤ ${maxTokens} tokens each)`,
  );
  log(
    `tokenizers: Mistral ${mistral.vocabSize} (${mistral.spaceMarker}), Qwen3 ${qwen3.vocabSize} (${qwen3.spaceMarker})`,
  );

  const special = (tokenizer: TokenizerLike) => ({
    bosTokenId: tokenizer.specialTokens.bos ?? null,
    eosTokenId: tokenizer.specialTokens.eos ?? null,
  });
  const teachers: Teacher[] = [
    {
      name: 'pivot',
      tokenizer: mistral,
      tokenizerDirectory: tokenizerDirectory('mistral'),
      steps: pivotSteps,
      learningRate: 1e-2,
      config: {
        modelType: 'llama',
        vocabSize: mistral.vocabSize,
        hiddenSize: 64,
        intermediateSize: 128,
        numHiddenLayers: 2,
        numAttentionHeads: 4,
        numKeyValueHeads: 2,
        tieWordEmbeddings: true,
        maxPositionEmbeddings: 256,
        ...special(mistral),
      },
    },
    {
      name: 'source-qwen2',
      tokenizer: qwen3,
      tokenizerDirectory: tokenizerDirectory('qwen3'),
      steps: sourceSteps,
      learningRate: 1e-2,
      config: {
        modelType: 'qwen2',
        vocabSize: qwen3.vocabSize,
        hiddenSize: 32,
        intermediateSize: 96,
        numHiddenLayers: 2,
        numAttentionHeads: 4,
        numKeyValueHeads: 2,
        tieWordEmbeddings: true,
        maxPositionEmbeddings: 256,
        ...special(qwen3),
      },
    },
    {
      name: 'source-mistral',
      tokenizer: mistral,
      tokenizerDirectory: tokenizerDirectory('mistral'),
      steps: sourceSteps,
      learningRate: 5e-3,
      config: {
        modelType: 'mistral',
        vocabSize: mistral.vocabSize,
        hiddenSize: 96,
        intermediateSize: 256,
        numHiddenLayers: 3,
        numAttentionHeads: 6,
        numKeyValueHeads: 2,
        tieWordEmbeddings: false,
        slidingWindow: 128,
        maxPositionEmbeddings: 256,
        ...special(mistral),
      },
    },
  ];
  const sideOf = (teacher: Teacher) =>
    train.map((pair) => (teacher.tokenizer === qwen3 ? pair.qwen3 : pair.pivot));

  // ── 1. teachers ──────────────────────────────────────────────────────────────────────────
  stage(
    1,
    `training three teachers from scratch (pivot ${pivotSteps} steps, sources ${sourceSteps}, batch ${batchSize})`,
  );
  const teacherSummaries: DemoTeacherSummary[] = [];
  const records = new Map<string, CaptureRecord[]>();
  const modelDirectory = (name: string) => join(out, 'models', name);
  for (const [index, teacher] of teachers.entries()) {
    const model = createModel(teacher.config, { seed: seed + index });
    try {
      const examples = sideOf(teacher);
      const losses = await trainDemoModel(model, examples, {
        steps: teacher.steps,
        batchSize,
        learningRate: teacher.learningRate,
        seed: seed + index,
        // Teachers learn the whole text, context included: they are language models first.
        loss: (logits, batch) =>
          clmLoss(
            logits,
            batch.examples.map((example) => example.inputIds),
          ),
        onStep: (step, loss) => {
          if ((step + 1) % Math.max(1, Math.floor(teacher.steps / 4)) === 0)
            log(
              `  ${teacher.name}: step ${step + 1}/${teacher.steps}, loss ${loss.toFixed(3)} (${elapsed()})`,
            );
        },
      });
      await saveModel(model, modelDirectory(teacher.name), {
        tokenizerDirectory: teacher.tokenizerDirectory,
      });

      // ── 2. capture ─────────────────────────────────────────────────────────────────────
      const captured = await captureTopK(model, examples, { k: topK, batchSize });
      records.set(teacher.name, captured);
      teacherSummaries.push({
        name: teacher.name,
        modelType: teacher.config.modelType,
        parameters: parameterCount(model),
        vocabSize: teacher.config.vocabSize,
        spaceMarker: teacher.tokenizer.spaceMarker,
        firstLoss: losses[0]!,
        lastLoss: losses.at(-1)!,
        meanCaptureCE: mean(captured.map((record) => record.ce).filter(Number.isFinite)),
      });
    } finally {
      model.dispose();
    }
  }
  stage(2, `captured top-${topK} distributions and response CE of every teacher (${elapsed()})`);
  for (const teacher of teacherSummaries) {
    log(
      `  ${teacher.name}: ${teacher.modelType}, ${(teacher.parameters / 1e6).toFixed(2)}M parameters, ` +
        `vocab ${teacher.vocabSize}; loss ${teacher.firstLoss.toFixed(2)} → ${teacher.lastLoss.toFixed(2)}, ` +
        `mean response CE ${teacher.meanCaptureCE.toFixed(3)}`,
    );
  }

  // ── 3. alignment ─────────────────────────────────────────────────────────────────────────
  stage(3, 'aligning each source onto the pivot (vocabulary map + DTW re-indexing)');
  const pivotRecords = records.get('pivot')!;
  const alignmentSummaries: DemoSummary['alignment'][number][] = [];
  const alignedBySource = new Map<string, SparseDistributions[]>();
  for (const teacher of teachers.slice(1)) {
    const corpus = train.map((pair) => ({
      sourceIds: Array.from(teacher.tokenizer === qwen3 ? pair.qwen3.inputIds : pair.pivot.inputIds),
      pivotIds: Array.from(pair.pivot.inputIds),
    }));
    const map: VocabularyMap = await buildVocabularyMap(teacher.tokenizer, mistral, {
      method: 'statistics',
      corpus,
    });
    await writeFile(join(out, `vocabulary-map.${teacher.name}.json`), serializeVocabularyMap(map));
    const exactShare = sharedVocabularyShare(teacher.tokenizer, mistral);
    const sourceRecords = records.get(teacher.name)!;
    let alignedRows = 0;
    let oneHotRows = 0;
    let rows = 0;
    const aligned = sourceRecords.map((sourceRecord, index) => {
      const result = alignCaptureRecord(sourceRecord, pivotRecords[index]!, {
        source: teacher.tokenizer,
        pivot: mistral,
        vocabularyMap: map,
      });
      for (const origin of result.origins) {
        rows++;
        if (origin === 'mapped') alignedRows++;
        else if (origin === 'one-hot') oneHotRows++;
      }
      return result.distributions;
    });
    alignedBySource.set(teacher.name, aligned);
    alignmentSummaries.push({
      source: teacher.name,
      method: map.method,
      exactShare,
      alignedShare: alignedRows / rows,
      oneHotShare: oneHotRows / rows,
    });
    log(
      `  ${teacher.name}: ${(exactShare * 100).toFixed(1)}% of its ${map.sourceVocabSize} tokens exist in the pivot vocabulary; ` +
        `pivot positions: ${((alignedRows / rows) * 100).toFixed(1)}% from the source, ` +
        `${((oneHotRows / rows) * 100).toFixed(1)}% one-hot gold fallback`,
    );
  }

  // ── 4. fusion ────────────────────────────────────────────────────────────────────────────
  stage(4, 'fusing pivot and source per conversation with MinCE');
  const fusedBySource = new Map<string, SparseDistributions[]>();
  const fusionSummaries: { source: string; sourceWins: number }[] = [];
  for (const teacher of teachers.slice(1)) {
    const aligned = alignedBySource.get(teacher.name)!;
    const sourceRecords = records.get(teacher.name)!;
    let wins = 0;
    const fused = pivotRecords.map((pivotRecord, index) => {
      const result = fuseTargets(
        {
          pivot: { distributions: pivotRecord.topK, ce: pivotRecord.ce },
          sources: [{ name: teacher.name, distributions: aligned[index]!, ce: sourceRecords[index]!.ce }],
        },
        { fusion: 'min_ce', vocabSize: mistral.vocabSize },
      );
      if ((result.teacherWeights[1] ?? 0) > 0.5) wins++;
      return result.distributions;
    });
    fusedBySource.set(teacher.name, fused);
    fusionSummaries.push({ source: teacher.name, sourceWins: wins / fused.length });
    log(
      `  ${teacher.name}: the source's distribution won ${((wins / fused.length) * 100).toFixed(1)}% of conversations`,
    );
  }

  // ── 5. targets ───────────────────────────────────────────────────────────────────────────
  stage(
    5,
    `training one target per source from the pivot with ${lambda}·CLM + ${(1 - lambda).toFixed(1)}·fusion (${targetSteps} steps)`,
  );
  const pivotExamples = train.map((pair) => pair.pivot);
  const targetNames: string[] = [];
  const runs: { name: string; fused?: SparseDistributions[] }[] = [
    ...teachers.slice(1).map((teacher) => ({
      name: `target-${teacher.name.replace('source-', '')}`,
      fused: fusedBySource.get(teacher.name)!,
    })),
    { name: 'control-clm-only' },
  ];
  for (const run of runs) {
    const model = await loadModel(modelDirectory('pivot'));
    try {
      let targets: { ids: tf.Tensor; logits: tf.Tensor } | undefined;
      const losses = await trainDemoModel(model, pivotExamples, {
        steps: targetSteps,
        batchSize,
        learningRate: 1e-3,
        seed: seed + 100,
        prepare: (batch) => {
          if (run.fused === undefined) return [];
          targets = packFusedTargets(
            batch.indices.map((index) => run.fused![index]!),
            { timeSteps: batch.timeSteps },
          );
          return [targets.ids, targets.logits];
        },
        loss: (logits, batch) => {
          const labels = batch.examples.map((example) => example.inputIds);
          const labelMask = batch.examples.map((example) => example.labelMask);
          if (run.fused === undefined) return clmLoss(logits, labels, labelMask);
          return combinedLoss(
            logits,
            { labels, labelMask, targetIds: targets!.ids, targetLogits: targets!.logits },
            { lambda },
          );
        },
      });
      await saveModel(model, modelDirectory(run.name));
      if (run.fused !== undefined) targetNames.push(run.name);
      log(`  ${run.name}: loss ${losses[0]!.toFixed(3)} → ${losses.at(-1)!.toFixed(3)} (${elapsed()})`);
    } finally {
      model.dispose();
    }
  }

  // ── 6. merge ─────────────────────────────────────────────────────────────────────────────
  stage(6, 'merging the targets with VaRM against the pivot');
  // Paths relative to `out`, so the saved merge.yml reruns from there unchanged.
  const mergeConfig = {
    merge_method: 'variation_ratio',
    base_model: 'models/pivot',
    models: targetNames.map((name) => ({ model: `models/${name}` })),
    dtype: 'float32',
  };
  await writeFile(
    join(out, 'merge.yml'),
    `# The merge this demo ran; from this directory: fusechat merge merge.yml --out models/fusechat-again\n${stringifyYaml(mergeConfig)}`,
  );
  const merged = await mergeModels(mergeConfig, {
    out: modelDirectory('fusechat'),
    overwrite: true,
    cwd: out,
  });
  const weighted = merged.report.tensors.filter((tensor) => tensor.weights !== undefined);
  const mergeWeights = targetNames.map((_, j) => mean(weighted.map((tensor) => tensor.weights![j]!)));
  log(
    `  ${merged.tensors} tensors in ${merged.seconds.toFixed(2)} s; mean VaRM weight per target: ` +
      targetNames.map((name, j) => `${name} ${mergeWeights[j]!.toFixed(3)}`).join(', '),
  );

  // ── 7. evaluation ────────────────────────────────────────────────────────────────────────
  stage(7, `held-out response perplexity (${held.length} conversations, pivot tokenizer)`);
  const heldExamples = held.map((pair) => pair.pivot);
  const heldBatches = () => {
    const batches = [];
    for (let start = 0; start < heldExamples.length; start += batchSize) {
      const indices = heldExamples.slice(start, start + batchSize).map((_, offset) => start + offset);
      const batch = makeBatch(heldExamples, indices, mistral.specialTokens.eos!);
      // Only the reply is scored: labels are −100 on context and padding.
      const labels = batch.inputIds.map((row, b) =>
        row.map((id, t) => (batch.examples[b]!.labelMask[t] === 1 ? id : -100)),
      );
      batches.push({ inputIds: batch.inputIds, attentionMask: batch.attentionMask, labels });
    }
    return batches;
  };
  const evaluation: { model: string; loss: number; perplexity: number; tokens: number }[] = [];
  let sample = { prompt: '', completion: '' };
  let sampleTokens = 0;
  for (const name of ['pivot', 'control-clm-only', ...targetNames, 'fusechat']) {
    const model = await loadModel(modelDirectory(name));
    try {
      const result = await evaluatePerplexity(model, heldBatches());
      evaluation.push({ model: name, ...result });
      log(
        `  ${name.padEnd(18)} loss ${result.loss.toFixed(4)}  perplexity ${result.perplexity.toFixed(2)}  (${result.tokens} tokens)`,
      );
      if (name === 'fusechat') {
        const prompt = 'User: Continue the story: Call me Ishmael.\nAssistant:';
        const ids = [mistral.specialTokens.bos!, ...mistral.encode(prompt, { addSpecialTokens: false })];
        // Sampled (seeded): a model this small often puts EOS first under greedy decoding.
        const generated = await model.generate(ids, { maxNewTokens: 24, temperature: 0.8, topP: 0.95, seed });
        sample = { prompt, completion: mistral.decode(generated.tokens, { skipSpecialTokens: true }) };
        sampleTokens = generated.tokens.length;
      }
    } finally {
      model.dispose();
    }
  }
  log(
    `\nsample from the fused model (temperature 0.8, top-p 0.95, ${sampleTokens} tokens):\n  ${sample.prompt.replace('\n', '\n  ')} ${JSON.stringify(sample.completion)}`,
  );
  const seconds = (performance.now() - started) / 1000;
  const summary: DemoSummary = {
    out,
    conversations: { train: train.length, eval: held.length },
    teachers: teacherSummaries,
    alignment: alignmentSummaries,
    fusion: fusionSummaries,
    mergeWeights,
    evaluation,
    sample,
    seconds,
  };
  await writeFile(join(out, 'demo-summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
  return summary;
}
