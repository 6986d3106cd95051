// `npm run bench plan`: how close `planPipeline`'s predictions come to reality. Plans a small
// pipeline of the demo's shapes (a Llama pivot with Mistral's 32k vocabulary, a Qwen2 source with
// Qwen3's 151k vocabulary, a larger Llama source; bf16 checkpoints like the demo teachers;
// synthetic chat data), then runs every stage with the library calls the pipeline's stages make,
// each in a fresh child process (so each stage's peak RSS is its own: the wasm heap never
// shrinks), and prints predicted vs measured time, peak memory and disk per stage with the ratio.
// Goal: every ratio within 0.7–1.3.
// Options: --examples N (default 240), --steps N (default 16), --max-length N (default 256).
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { copyFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initBackend } from '@fusechat/backend';
import { readDataFile, tokenizeExample } from '@fusechat/chat-data';
import { formatBytes, formatDuration } from '@fusechat/core';
import { alignStore, captureLocalModel, VOCABULARY_MAP_FILE } from '@fusechat/distribution-capture';
import { openStore } from '@fusechat/distribution-store';
import { mergeModels } from '@fusechat/merge';
import { evaluatePerplexity, generate, loadModel, TOKENIZER_FILES } from '@fusechat/model';
import { buildVocabularyMap, loadTokenizer, serializeVocabularyMap } from '@fusechat/tokenizer-alignment';
import { createChatDataset, createFusionDataset, train } from '@fusechat/training';
import { directoryBytes } from '../src/plan/calibrate.js';
import { formatPlan, planPipeline } from '../src/plan/index.js';
import {
  chatData,
  MISTRAL_TEMPLATE,
  MISTRAL_TOKENIZER,
  pivotConfig,
  QWEN3_TOKENIZER,
  qwenConfig,
  saveRandomModel,
} from '../src/plan/plan-fixtures.js';
import type { PlanInput, PlanLocalModel } from '../src/plan/plan-input.js';

const args = process.argv.slice(2);
const option = (name: string, fallback: string) => {
  const at = args.indexOf(`--${name}`);
  return at >= 0 ? args[at + 1]! : fallback;
};
const here = fileURLToPath(import.meta.url);

if (args.includes('--stage')) await runChild(option('stage', ''), option('root', ''));
else await main();

async function main(): Promise<void> {
  const examples = Number(option('examples', '240'));
  const steps = Number(option('steps', '16'));
  const maxLength = Number(option('max-length', '256'));
  const root = mkdtempSync(join(tmpdir(), 'fusechat-bench-plan-'));
  try {
    const selection = await initBackend('auto', { quiet: true });
    const load = loadavg().map((x) => x.toFixed(2));
    await saveRandomModel(
      join(root, 'pivot'),
      pivotConfig({
        hiddenSize: 64,
        intermediateSize: 192,
        numAttentionHeads: 4,
        numKeyValueHeads: 2,
        maxPositionEmbeddings: 512,
      }),
      MISTRAL_TOKENIZER,
      3,
      'BF16',
    );
    await saveRandomModel(
      join(root, 'qwen'),
      await qwenConfig({
        hiddenSize: 32,
        intermediateSize: 96,
        numAttentionHeads: 4,
        numKeyValueHeads: 2,
        maxPositionEmbeddings: 512,
      }),
      QWEN3_TOKENIZER,
      4,
      'BF16',
    );
    await saveRandomModel(
      join(root, 'big'),
      pivotConfig({
        hiddenSize: 96,
        intermediateSize: 256,
        numHiddenLayers: 3,
        numAttentionHeads: 6,
        numKeyValueHeads: 2,
        tieWordEmbeddings: false,
        maxPositionEmbeddings: 512,
      }),
      MISTRAL_TOKENIZER,
      5,
      'BF16',
    );
    writeFileSync(join(root, 'template.jinja'), MISTRAL_TEMPLATE);
    writeFileSync(join(root, 'train.jsonl'), chatData(examples));
    writeFileSync(join(root, 'test.jsonl'), chatData(24, 99));
    const template = join(root, 'template.jinja');
    const input: PlanInput = {
      runDir: join(root, 'run'),
      pivot: { name: 'pivot', modelDir: join(root, 'pivot'), chatTemplateFile: template },
      sources: [
        { name: 'qwen', modelDir: join(root, 'qwen'), mapping: 'exact' },
        { name: 'big', modelDir: join(root, 'big'), chatTemplateFile: template, mapping: 'exact' },
      ],
      data: { train: join(root, 'train.jsonl'), test: [{ name: 'moby', path: join(root, 'test.jsonl') }] },
      capture: { topK: 10, maxLength },
      training: { maxSteps: steps, batchSize: 8, control: true },
      merge: { method: 'variation_ratio' },
      eval: { batchSize: 8 },
      report: { samples: { prompts: ['Tell me about the whale.', 'Where is the ship?'], maxNewTokens: 24 } },
    };
    writeFileSync(join(root, 'input.json'), JSON.stringify(input));
    // The stages run in fresh processes: their baseline is such a process's, not this one's.
    const baselineBytes = runStageProcess('baseline', root).peakRssBytes;
    const plan = await planPipeline(input, { refuse: false, baselineBytes });
    console.log(
      `backend ${selection.name ?? ''}; load average before ${load.join(' ')}; planned in ${formatDuration(plan.planningSeconds)}`,
    );
    console.log(formatPlan(plan));
    console.log('');
    const rows: string[][] = [];
    const ratios: { time: number[]; memory: number[]; disk: number[] } = { time: [], memory: [], disk: [] };
    for (const stage of plan.stages) {
      const measured = runStageProcess(stage.id, root);
      const disk = await directoryBytes(join(input.runDir, stage.id));
      const ratio = (predicted: number, actual: number) => (actual > 0 ? predicted / actual : Number.NaN);
      const r = [
        ratio(stage.seconds, measured.seconds),
        ratio(stage.peakMemoryBytes, measured.peakRssBytes),
        ratio(stage.diskBytes, disk),
      ];
      ratios.time.push(r[0]!);
      ratios.memory.push(r[1]!);
      ratios.disk.push(r[2]!);
      rows.push([
        stage.id,
        formatDuration(stage.seconds),
        formatDuration(measured.seconds),
        r[0]!.toFixed(2),
        formatBytes(stage.peakMemoryBytes),
        formatBytes(measured.peakRssBytes),
        r[1]!.toFixed(2),
        formatBytes(stage.diskBytes),
        formatBytes(disk),
        r[2]!.toFixed(2),
      ]);
      console.error(`  ${stage.id} done`);
    }
    const header = [
      'stage',
      'time pred',
      'measured',
      'ratio',
      'memory pred',
      'measured',
      'ratio',
      'disk pred',
      'measured',
      'ratio',
    ];
    const widths = header.map((_, column) =>
      Math.max(...[header, ...rows].map((row) => row[column]!.length)),
    );
    for (const row of [header, ...rows])
      console.log(
        row
          .map((cell, column) =>
            column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!),
          )
          .join('  '),
      );
    const within = (values: number[]) => values.filter((value) => value >= 0.7 && value <= 1.3).length;
    console.log(
      `within ±30%: time ${within(ratios.time)}/${ratios.time.length}, memory ${within(ratios.memory)}/${ratios.memory.length}, disk ${within(ratios.disk)}/${ratios.disk.length}; load average after ${loadavg()
        .map((x) => x.toFixed(2))
        .join(' ')}`,
    );
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

function runStageProcess(id: string, root: string): { seconds: number; peakRssBytes: number } {
  const child = spawnSync(
    process.execPath,
    [
      '--conditions=source',
      '--import',
      join(dirname(here), '..', '..', '..', 'scripts', 'register-source-hooks.mjs'),
      '--import',
      'tsx',
      here,
      '--stage',
      id,
      '--root',
      root,
    ],
    { encoding: 'utf8', maxBuffer: 64 * 1024 ** 2 },
  );
  if (child.status !== 0) throw new Error(`stage ${id} failed:\n${child.stderr}`);
  return JSON.parse(child.stdout.trim().split('\n').at(-1)!) as { seconds: number; peakRssBytes: number };
}

/** One stage, as the pipeline's stage runs it, in this (fresh) process: prints {seconds, peakRssBytes}. */
async function runChild(id: string, root: string): Promise<void> {
  await initBackend('auto', { quiet: true });
  const input = JSON.parse(readFileSync(join(root, 'input.json'), 'utf8')) as PlanInput;
  const run = input.runDir;
  const dir = join(run, id);
  if (id !== 'baseline') mkdirSync(dir, { recursive: true });
  let peak = process.memoryUsage.rss();
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 20);
  const started = performance.now();
  const [kind, name] = id.split('/') as [string, string | undefined];
  const local = (model: string): PlanLocalModel =>
    model === input.pivot.name
      ? input.pivot
      : (input.sources.find((source) => source.name === model) as PlanLocalModel);
  const sources = input.sources as readonly (PlanLocalModel & { mapping: string })[];
  if (kind === 'capture') {
    const model = local(name!);
    await captureLocalModel({
      modelDir: model.modelDir,
      data: input.data.train,
      out: join(dir, 'store'),
      k: input.capture.topK,
      maxLength: input.capture.maxLength,
      chatTemplateFile: model.chatTemplateFile,
    });
  } else if (kind === 'align') {
    const source = local(name!);
    const [pivotTokenizer, sourceTokenizer] = await Promise.all([
      loadTokenizer(input.pivot.modelDir),
      loadTokenizer(source.modelDir),
    ]);
    const pivot = await openStore(join(run, 'capture', input.pivot.name, 'store'), { requireComplete: true });
    const store = await openStore(join(run, 'capture', name!, 'store'), { requireComplete: true });
    try {
      const map = await buildVocabularyMap(sourceTokenizer, pivotTokenizer, {
        method: sources.find((item) => item.name === name)!.mapping,
      });
      writeFileSync(join(dir, VOCABULARY_MAP_FILE), serializeVocabularyMap(map));
      await alignStore({
        pivot,
        source: store,
        pivotTokenizer,
        sourceTokenizer,
        vocabularyMap: map,
        out: join(dir, 'store'),
      });
    } finally {
      await Promise.all([pivot.close(), store.close()]);
    }
  } else if (kind === 'train') {
    const tokenizer = await loadTokenizer(input.pivot.modelDir);
    const pivot = await openStore(join(run, 'capture', input.pivot.name, 'store'), { requireComplete: true });
    const aligned =
      name === 'control'
        ? undefined
        : await openStore(join(run, 'align', name!, 'store'), { requireComplete: true });
    const dataset =
      aligned === undefined
        ? await createChatDataset({
            dataFile: input.data.train,
            tokenizer,
            chatTemplate: readFileSync(input.pivot.chatTemplateFile!, 'utf8'),
            maxLength: input.capture.maxLength,
            batchSize: input.training.batchSize,
          })
        : await createFusionDataset({
            pivot,
            sources: [aligned],
            tokenizer,
            maxLength: input.capture.maxLength,
            batchSize: input.training.batchSize,
          });
    const model = await loadModel(input.pivot.modelDir);
    try {
      const result = await train({
        model,
        dataset,
        training: {
          learningRate: 1e-3,
          maxSteps: input.training.maxSteps,
          lmLossWeight: name === 'control' ? 1 : 0.9,
        },
        outputDir: dir,
      });
      for (const file of TOKENIZER_FILES)
        await copyFile(join(input.pivot.modelDir, file), join(result.modelDir, file)).catch(() => undefined);
    } finally {
      model.dispose();
      await dataset.close?.();
      await Promise.all([pivot.close(), aligned?.close()]);
    }
  } else if (kind === 'merge') {
    await mergeModels(
      {
        merge_method: input.merge!.method,
        base_model: input.pivot.modelDir,
        models: sources.map((source) => ({ model: join(run, 'train', source.name, 'model') })),
      },
      { out: join(dir, 'model') },
    );
  } else if (kind === 'eval') {
    const family = [
      ...[input.pivot, ...sources].map((model) => ({
        dir: model.modelDir,
        template: model.chatTemplateFile,
      })),
      ...[...sources.map((source) => source.name), 'control'].map((target) => ({
        dir: join(run, 'train', target, 'model'),
        template: input.pivot.chatTemplateFile,
      })),
      ...(input.merge ? [{ dir: join(run, 'merge', 'model'), template: input.pivot.chatTemplateFile }] : []),
    ];
    const rows = [];
    for (const member of family) {
      const tokenizer = await loadTokenizer(member.dir);
      const model = await loadModel(member.dir);
      try {
        for (const test of input.data.test ?? []) {
          const batches = [];
          for await (const example of readDataFile(test.path)) {
            const tokenized = tokenizeExample(example, {
              tokenizer,
              chatTemplate: member.template ? readFileSync(member.template, 'utf8') : tokenizer.chatTemplate,
              maxLength: Math.min(model.config.maxPositionEmbeddings, 2048),
            });
            batches.push({
              inputIds: Array.from(tokenized.inputIds),
              labels: Array.from(tokenized.inputIds, (token, t) => (tokenized.labelMask[t] ? token : -100)),
            });
          }
          const batchSize = input.eval?.batchSize ?? 8;
          for (let start = 0; start < batches.length; start += batchSize) {
            const chunk = batches.slice(start, start + batchSize);
            const time = Math.max(...chunk.map((row) => row.inputIds.length));
            const result = await evaluatePerplexity(model, [
              {
                inputIds: chunk.map((row) => [...row.inputIds, ...Array(time - row.inputIds.length).fill(0)]),
                attentionMask: chunk.map((row) => [
                  ...row.inputIds.map(() => 1),
                  ...Array(time - row.inputIds.length).fill(0),
                ]),
                labels: chunk.map((row) => [...row.labels, ...Array(time - row.labels.length).fill(-100)]),
              },
            ]);
            rows.push({ model: member.dir, split: test.name, loss: result.loss });
          }
        }
      } finally {
        model.dispose();
      }
    }
    writeFileSync(join(dir, 'evaluation.json'), `${JSON.stringify(rows, null, 2)}\n`);
  } else if (kind === 'report') {
    const dirs = [
      input.pivot.modelDir,
      ...[...sources.map((source) => source.name), 'control'].map((target) =>
        join(run, 'train', target, 'model'),
      ),
      ...(input.merge ? [join(run, 'merge', 'model')] : []),
    ];
    const samples = [];
    const tokenizer = await loadTokenizer(input.pivot.modelDir);
    for (const modelDir of dirs) {
      const model = await loadModel(modelDir);
      try {
        for (const prompt of input.report?.samples?.prompts ?? []) {
          const result = await generate(model, tokenizer.encode(prompt), {
            maxNewTokens: input.report!.samples!.maxNewTokens,
            minNewTokens: input.report!.samples!.maxNewTokens,
          });
          samples.push({ model: modelDir, text: tokenizer.decode(result.tokens) });
        }
      } finally {
        model.dispose();
      }
    }
    writeFileSync(join(dir, 'index.html'), `<!doctype html><pre>${JSON.stringify(samples)}</pre>`);
  }
  const seconds = (performance.now() - started) / 1000;
  clearInterval(timer);
  peak = Math.max(peak, process.memoryUsage.rss(), process.resourceUsage().maxRSS * 1024);
  process.stdout.write(`${JSON.stringify({ seconds, peakRssBytes: peak })}\n`);
}
