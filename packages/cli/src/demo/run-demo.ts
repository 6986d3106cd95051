import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { type DataExample, renderChat, tokenizeExample } from '@fusechat/chat-data';
import { formatDuration, SPACE_MARKERS, type SparseDistributions, type TokenizerLike } from '@fusechat/core';
import { fuseTargets } from '@fusechat/distillation-loss';
import { alignStore, captureLocalModel } from '@fusechat/distribution-capture';
import { type DistributionStore, openStore } from '@fusechat/distribution-store';
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
  buildVocabularyMap,
  type CoTokenizedText,
  serializeVocabularyMap,
  swapSpaceMarker,
  type VocabularyMap,
  vocabularyTokens,
} from '@fusechat/tokenizer-alignment';
import {
  createChatDataset,
  createFusionDataset,
  type TrainingDataset,
  type TrainingOptions,
  type TrainResult,
  train,
} from '@fusechat/training';
import { stringify as stringifyYaml } from 'yaml';
import { demoTokenizerFiles, loadDemoTokenizer } from './demo-assets.js';
import {
  chatLine,
  DEMO_CHAT_TEMPLATE,
  type DemoConversation,
  mobyDickConversations,
  type TokenizedConversation,
} from './demo-corpus.js';

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
 * 5. trains one target per source from the pivot with `0.9·CLM + 0.1·fusion` over the pivot store
 *    joined with that source's aligned store (`createFusionDataset`), and a CLM-only control on
 *    the chat JSONL (`createChatDataset`) with the same steps — every model, the teachers included,
 *    through `@fusechat/training`'s `train` (metrics.jsonl and loss.svg under `out/train/<name>`);
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
  const tokenize = (tokenizer: TokenizerLike, conversation: DemoConversation): TokenizedConversation => {
    const example: DataExample = {
      kind: 'chat',
      id: conversation.id,
      where: conversation.id,
      messages: [
        { role: 'user', content: conversation.prompt },
        { role: 'assistant', content: conversation.response },
      ],
    };
    return tokenizeExample(example, { tokenizer, chatTemplate: DEMO_CHAT_TEMPLATE });
  };
  const tokenizeAll = (chapters: readonly number[]) => {
    const kept: {
      conversation: DemoConversation;
      pivot: TokenizedConversation;
      qwen3: TokenizedConversation;
    }[] = [];
    for (const conversation of mobyDickConversations(chapters)) {
      const pivot = tokenize(mistral, conversation);
      const source = tokenize(qwen3, conversation);
      if (pivot.inputIds.length <= maxTokens && source.inputIds.length <= maxTokens)
        kept.push({ conversation, pivot, qwen3: source });
    }
    return kept;
  };
  const train = tokenizeAll(options.trainChapters ?? [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  const held = tokenizeAll(options.evalChapters ?? [13, 14]);
  // The data as chat JSONL: what capture reads, and a held-out split `fusechat eval` can reuse.
  const dataDirectory = join(out, 'data');
  await mkdir(dataDirectory, { recursive: true });
  const trainData = join(dataDirectory, 'train.jsonl');
  await writeFile(trainData, `${train.map((pair) => chatLine(pair.conversation)).join('\n')}\n`);
  await writeFile(
    join(dataDirectory, 'eval.jsonl'),
    `${held.map((pair) => chatLine(pair.conversation)).join('\n')}\n`,
  );
  log(
    `data: ${train.length} training and ${held.length} held-out conversations from Moby-Dick ` +
      `(user quotes a sentence, assistant answers with the next; ≤ ${maxTokens} tokens each)`,
  );
  log(
    `tokenizers: Mistral ${mistral.vocabSize} (${mistral.spaceMarker}), Qwen3 ${qwen3.vocabSize} (${qwen3.spaceMarker}); ` +
      `data in ${dataDirectory}`,
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
  // Per teacher, each conversation's response CE (what MinCE compares); distributions stay on disk.
  const captureCes = new Map<string, Map<string, number>>();
  const modelDirectory = (name: string) => join(out, 'models', name);
  const storeDirectory = (stage: 'capture' | 'align', name: string) => join(out, stage, name);
  for (const [index, teacher] of teachers.entries()) {
    const model = createModel(teacher.config, { seed: seed + index });
    try {
      const examples = sideOf(teacher);
      // Teachers learn the whole text, context included (they are language models first): their
      // data is the pre-tokenised conversations without labels, so every token is supervised.
      const teacherData = join(dataDirectory, `teacher-${teacher.name}.jsonl`);
      await writeFile(
        teacherData,
        `${examples.map((example, i) => JSON.stringify({ id: train[i]!.conversation.id, input_ids: Array.from(example.inputIds) })).join('\n')}\n`,
      );
      const dataset = await createChatDataset({
        dataFile: teacherData,
        tokenizer: teacher.tokenizer,
        batchSize,
      });
      const run = await trainDemoRun(model, dataset, join(out, 'train', teacher.name), {
        ...DEMO_TRAINING,
        learningRate: teacher.learningRate,
        maxSteps: teacher.steps,
        seed: seed + index,
        progress: (step, loss) => {
          if (step % Math.max(1, Math.floor(teacher.steps / 4)) === 0)
            log(`  ${teacher.name}: step ${step}/${teacher.steps}, loss ${loss.toFixed(3)} (${elapsed()})`);
        },
      });
      await dataset.close?.();
      await saveModel(model, modelDirectory(teacher.name), {
        tokenizerDirectory: teacher.tokenizerDirectory,
      });
      await writeChatTemplate(modelDirectory(teacher.name), DEMO_CHAT_TEMPLATE);

      // ── 2. capture (the model in memory is the one just saved) ─────────────────────────
      const capture = await captureLocalModel({
        modelDir: modelDirectory(teacher.name),
        data: trainData,
        out: storeDirectory('capture', teacher.name),
        k: topK,
        model,
      });
      if (capture.manifest.examples !== examples.length || capture.manifest.flagged.length > 0) {
        throw new Error(
          `demo: the ${teacher.name} store holds ${capture.manifest.examples} of ${examples.length} conversations (${capture.manifest.flagged.length} flagged)`,
        );
      }
      const ces = await readCes(storeDirectory('capture', teacher.name));
      captureCes.set(teacher.name, ces);
      teacherSummaries.push({
        name: teacher.name,
        modelType: teacher.config.modelType,
        parameters: parameterCount(model),
        vocabSize: teacher.config.vocabSize,
        spaceMarker: teacher.tokenizer.spaceMarker,
        firstLoss: run.losses[0]!,
        lastLoss: run.losses.at(-1)!,
        meanCaptureCE: mean([...ces.values()].filter(Number.isFinite)),
      });
    } finally {
      model.dispose();
    }
  }
  stage(
    2,
    `captured top-${topK} distributions and response CE of every teacher into ${join(out, 'capture')} (${elapsed()})`,
  );
  for (const teacher of teacherSummaries) {
    log(
      `  ${teacher.name}: ${teacher.modelType}, ${(teacher.parameters / 1e6).toFixed(2)}M parameters, ` +
        `vocab ${teacher.vocabSize}; loss ${teacher.firstLoss.toFixed(2)} → ${teacher.lastLoss.toFixed(2)}, ` +
        `mean response CE ${teacher.meanCaptureCE.toFixed(3)}`,
    );
  }

  // ── 3. alignment ─────────────────────────────────────────────────────────────────────────
  stage(
    3,
    `aligning each source store onto the pivot's (vocabulary map + DTW re-indexing) into ${join(out, 'align')}`,
  );
  const alignmentSummaries: DemoSummary['alignment'][number][] = [];
  const pivotStore = await openStore(storeDirectory('capture', 'pivot'), { requireComplete: true });
  try {
    for (const teacher of teachers.slice(1)) {
      const sourceStore = await openStore(storeDirectory('capture', teacher.name), { requireComplete: true });
      try {
        const map: VocabularyMap = await buildVocabularyMap(teacher.tokenizer, mistral, {
          method: 'statistics',
          corpus: coTokenized(pivotStore, sourceStore),
        });
        await writeFile(join(out, `vocabulary-map.${teacher.name}.json`), serializeVocabularyMap(map));
        const exactShare = sharedVocabularyShare(teacher.tokenizer, mistral);
        const result = await alignStore({
          pivot: pivotStore,
          source: sourceStore,
          pivotTokenizer: mistral,
          sourceTokenizer: teacher.tokenizer,
          vocabularyMap: map,
          out: storeDirectory('align', teacher.name),
        });
        alignmentSummaries.push({
          source: teacher.name,
          method: map.method,
          exactShare,
          alignedShare: result.origins.mapped,
          oneHotShare: result.origins.oneHot,
        });
        log(
          `  ${teacher.name}: ${(exactShare * 100).toFixed(1)}% of its ${map.sourceVocabSize} tokens exist in the pivot vocabulary; ` +
            `pivot positions: ${(result.origins.mapped * 100).toFixed(1)}% from the source, ` +
            `${(result.origins.oneHot * 100).toFixed(1)}% one-hot gold fallback (${result.workers} worker threads)`,
        );
      } finally {
        await sourceStore.close();
      }
    }
  } finally {
    await pivotStore.close();
  }

  // ── 4. fusion ────────────────────────────────────────────────────────────────────────────
  // Training fuses per batch inside createFusionDataset; here the same MinCE choice is counted
  // per conversation for the summary. The choice depends on the CEs alone, so the fusion function
  // runs on empty distributions: its rule (ties → pivot, NaN → +∞), none of its work.
  stage(4, 'fusing pivot and source per conversation with MinCE');
  const fusionSummaries: { source: string; sourceWins: number }[] = [];
  const noRows: SparseDistributions = {
    length: 0,
    k: 1,
    ids: new Int32Array(0),
    logits: new Float32Array(0),
  };
  const pivotCes = captureCes.get('pivot')!;
  for (const teacher of teachers.slice(1)) {
    const sourceCes = captureCes.get(teacher.name)!;
    let wins = 0;
    for (const [id, ce] of pivotCes) {
      const result = fuseTargets(
        {
          pivot: { distributions: noRows, ce },
          sources: [{ name: teacher.name, distributions: noRows, ce: sourceCes.get(id) ?? Number.NaN }],
        },
        { fusion: 'min_ce' },
      );
      if ((result.teacherWeights[1] ?? 0) > 0.5) wins++;
    }
    const share = wins / pivotCes.size;
    fusionSummaries.push({ source: teacher.name, sourceWins: share });
    log(`  ${teacher.name}: the source's distribution won ${(share * 100).toFixed(1)}% of conversations`);
  }

  // ── 5. targets ───────────────────────────────────────────────────────────────────────────
  stage(
    5,
    `training one target per source from the pivot with ${lambda}·CLM + ${(1 - lambda).toFixed(1)}·fusion (${targetSteps} steps)`,
  );
  const targetNames: string[] = [];
  const runs: { name: string; source?: string }[] = [
    ...teachers.slice(1).map((teacher) => ({
      name: `target-${teacher.name.replace('source-', '')}`,
      source: teacher.name,
    })),
    { name: 'control-clm-only' },
  ];
  for (const run of runs) {
    // Targets: the pivot store joined with one aligned store, fused per batch (MinCE);
    // the control: the same conversations as plain chat data (assistant tokens supervised).
    const dataset: TrainingDataset =
      run.source === undefined
        ? await createChatDataset({
            dataFile: trainData,
            tokenizer: mistral,
            chatTemplate: DEMO_CHAT_TEMPLATE,
            batchSize,
          })
        : await createFusionDataset({
            pivot: await openStore(storeDirectory('capture', 'pivot')),
            sources: [await openStore(storeDirectory('align', run.source))],
            tokenizer: mistral,
            fusion: 'min_ce',
            batchSize,
          });
    const model = await loadModel(modelDirectory('pivot'));
    try {
      const result = await trainDemoRun(model, dataset, join(out, 'train', run.name), {
        ...DEMO_TRAINING,
        learningRate: 1e-3,
        maxSteps: targetSteps,
        seed: seed + 100,
        lmLossWeight: lambda,
      });
      await saveModel(model, modelDirectory(run.name));
      if (run.source !== undefined) targetNames.push(run.name);
      log(
        `  ${run.name}: loss ${result.losses[0]!.toFixed(3)} → ${result.losses.at(-1)!.toFixed(3)} (${elapsed()}; ` +
          `${Math.round(result.result.tokensPerSecond)} tokens/s, curve in ${join('train', run.name, 'loss.svg')})`,
      );
    } finally {
      model.dispose();
      await dataset.close?.();
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
  // Only the reply is scored: the chat dataset's labels are −100 on context and padding.
  const heldData = await createChatDataset({
    dataFile: join(dataDirectory, 'eval.jsonl'),
    tokenizer: mistral,
    chatTemplate: DEMO_CHAT_TEMPLATE,
    batchSize,
  });
  const heldBatches = async () => {
    const batches = [];
    for (let index = 0; index < heldData.batchesPerEpoch; index++)
      batches.push(await heldData.batch(0, index, seed));
    return batches;
  };
  const evaluation: { model: string; loss: number; perplexity: number; tokens: number }[] = [];
  let sample = { prompt: '', completion: '' };
  let sampleTokens = 0;
  for (const name of ['pivot', 'control-clm-only', ...targetNames, 'fusechat']) {
    const model = await loadModel(modelDirectory(name));
    try {
      const result = await evaluatePerplexity(model, await heldBatches());
      evaluation.push({ model: name, ...result });
      log(
        `  ${name.padEnd(18)} loss ${result.loss.toFixed(4)}  perplexity ${result.perplexity.toFixed(2)}  (${result.tokens} tokens)`,
      );
      if (name === 'fusechat') {
        // The prompt rendered with the model's chat template, as `generate` will: BOS, the user turn, "Assistant:".
        const { text: prompt } = renderChat(
          [{ role: 'user', content: 'Continue the story: Call me Ishmael.' }],
          {
            tokenizer: mistral,
            chatTemplate: DEMO_CHAT_TEMPLATE,
            addGenerationPrompt: true,
          },
        );
        const ids = mistral.encode(prompt, { addSpecialTokens: false });
        // Sampled (seeded): a model this small often puts EOS first under greedy decoding.
        const generated = await model.generate(ids, { maxNewTokens: 24, temperature: 0.8, topP: 0.95, seed });
        const bosText = mistral.idToToken(mistral.specialTokens.bos ?? -1) ?? '';
        sample = {
          prompt: bosText !== '' && prompt.startsWith(bosText) ? prompt.slice(bosText.length) : prompt,
          completion: mistral.decode(generated.tokens, { skipSpecialTokens: true }),
        };
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

/** Each example's response CE in a store, by id, streamed in store order. */
async function readCes(dir: string): Promise<Map<string, number>> {
  const store = await openStore(dir, { requireComplete: true });
  try {
    const ces = new Map<string, number>();
    for await (const record of store) ces.set(record.id, record.ce);
    return ces;
  } finally {
    await store.close();
  }
}

/** Both stores' token ids of each example (the `statistics` mapper's corpus). */
async function* coTokenized(
  pivot: DistributionStore,
  source: DistributionStore,
): AsyncGenerator<CoTokenizedText> {
  for await (const pivotRecord of pivot) {
    const sourceRecord = await source.getById(pivotRecord.id);
    if (sourceRecord !== undefined)
      yield { sourceIds: Array.from(sourceRecord.inputIds), pivotIds: Array.from(pivotRecord.inputIds) };
  }
}

/** Sets `chat_template` in a saved model's `tokenizer_config.json`. */
async function writeChatTemplate(modelDir: string, template: string): Promise<void> {
  const path = join(modelDir, 'tokenizer_config.json');
  const config = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
  config.chat_template = template;
  await writeFile(path, `${JSON.stringify(config, null, 2)}\n`);
}

/**
 * What every demo run shares: the optimizer the demo always used (Adam at a constant rate, no
 * weight decay, no clipping), a metrics row per step, and no checkpoints until the last step.
 */
const DEMO_TRAINING = {
  lrSchedulerType: 'constant',
  weightDecay: 0,
  maxGradNorm: null,
  loggingSteps: 1,
} as const satisfies Partial<TrainingOptions>;

/**
 * Trains `model` in place through `@fusechat/training` into `outputDir` (metrics.jsonl,
 * loss.svg, model/) from scratch, and returns the result with the loss of every step.
 */
async function trainDemoRun(
  model: CausalLM,
  dataset: TrainingDataset,
  outputDir: string,
  options: TrainingOptions & {
    readonly maxSteps: number;
    readonly progress?: (step: number, loss: number) => void;
  },
): Promise<{ result: TrainResult; losses: number[] }> {
  const { progress, ...training } = options;
  const result = await train({
    model,
    dataset,
    outputDir,
    training: { ...training, saveSteps: training.maxSteps },
    resume: 'never',
    callbacks: progress === undefined ? [] : [{ onStepEnd: (state) => progress(state.step, state.loss) }],
  });
  const rows = (await readFile(result.metricsFile, 'utf8'))
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as { step: number; loss?: number });
  return { result, losses: rows.filter((row) => row.loss !== undefined).map((row) => row.loss!) };
}
