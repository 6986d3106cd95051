// Trains the demo's teachers (packages/cli/demo-teachers/<name>/) with @fusechat/training's own
// `train`: a weak generalist pivot and three domain specialists. See README.md beside this file.
//
//   node --conditions=source --import ./scripts/register-source-hooks.mjs --import tsx \
//     scripts/demo-teachers/train-demo-teachers.ts [--only pivot,moby-dick] [--tiny] [--evaluate-only]
//     [--phase2-only | --phase3-only] [--skip-evaluation] [--out DIR] [--work DIR] [--threads N] [--workers N]
//
// --tiny: a sanity run (a few steps each, into a temp dir unless --out is given).
// --evaluate-only: skip training, evaluate the committed checkpoints and print the README table.
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { initBackend } from '../../packages/backend/src/index.js';
import { renderChat, tokenizeExample } from '../../packages/chat-data/src/index.js';
import { demoTokenizerFiles, loadDemoTokenizer } from '../../packages/cli/src/demo/demo-assets.js';
import { DEMO_CHAT_TEMPLATE } from '../../packages/cli/src/demo/demo-chat-template.js';
import {
  chatLine,
  DEMO_DOMAINS,
  type DemoConversation,
  splitConversations,
} from '../../packages/cli/src/demo/demo-domains.js';
import {
  DEMO_TEACHERS,
  type DemoTeacher,
  demoTeacher,
  demoTeachersDirectory,
  materializeDemoTeacher,
} from '../../packages/cli/src/demo/demo-teachers.js';
import { formatDuration, type TokenizerLike } from '../../packages/core/src/index.js';
import {
  type CausalLM,
  createModel,
  evaluatePerplexity,
  loadModel,
  saveModel,
} from '../../packages/model/src/index.js';
import { createChatDataset, train } from '../../packages/training/src/index.js';

const { values: args } = parseArgs({
  options: {
    only: { type: 'string' },
    tiny: { type: 'boolean', default: false },
    'evaluate-only': { type: 'boolean', default: false },
    'skip-evaluation': { type: 'boolean', default: false },
    'phase2-only': { type: 'boolean', default: false },
    'phase3-only': { type: 'boolean', default: false },
    out: { type: 'string' },
    work: { type: 'string' },
    threads: { type: 'string' },
    workers: { type: 'string' },
  },
});
const tiny = args.tiny ?? false;
const out = resolve(
  args.out ?? (tiny ? join(tmpdir(), 'fusechat-demo-teachers-tiny') : demoTeachersDirectory()),
);
const work = resolve(args.work ?? join(tmpdir(), 'fusechat-demo-teachers-work'));
const teachers = args.only === undefined ? DEMO_TEACHERS : args.only.split(',').map(demoTeacher);
const SEED = 20_260_12;
const MAX_LENGTH = 192;

// Data-parallel replicas (`train({ workers })`), one core each: this thread's backend at 1 thread too.
const workers = args.workers === undefined ? 1 : Number(args.workers);
const threads = args.threads ?? (workers > 1 ? '1' : undefined);
const backend = await initBackend('wasm', threads === undefined ? {} : { wasmThreads: Number(threads) });
const started = performance.now();
const elapsed = () => formatDuration((performance.now() - started) / 1000);
const log = (line: string) => console.log(`[${new Date().toISOString().slice(11, 19)} ${elapsed()}] ${line}`);
log(
  `backend ${backend.name} (${backend.threads ?? 1} threads); out ${out}; work ${work}${tiny ? ' (tiny)' : ''}`,
);

const tokenizers = new Map<string, TokenizerLike>();
async function tokenizerOf(teacher: DemoTeacher): Promise<TokenizerLike> {
  let tokenizer = tokenizers.get(teacher.tokenizer);
  if (tokenizer === undefined) {
    tokenizer = await loadDemoTokenizer(teacher.tokenizer);
    tokenizers.set(teacher.tokenizer, tokenizer);
  }
  return tokenizer;
}

/** A conversation rendered with the demo template as token ids, every token supervised (LM data). */
function lmLine(tokenizer: TokenizerLike, conversation: DemoConversation): string {
  const { inputIds } = tokenizeExample(
    {
      kind: 'chat',
      id: conversation.id,
      where: conversation.id,
      messages: [
        { role: 'user', content: conversation.prompt },
        { role: 'assistant', content: conversation.response },
      ],
    },
    { tokenizer, chatTemplate: DEMO_CHAT_TEMPLATE, maxLength: MAX_LENGTH },
  );
  return JSON.stringify({ id: conversation.id, input_ids: Array.from(inputIds) });
}

type Phase = 1 | 2 | 3;

/**
 * What a teacher learns from: its domain's specialist split, or a little of every domain's. A
 * specialist sees each conversation once in phases 1 and 2: phase 1 the first `steps × batch` of
 * the seeded order, phase 2 the next `continued.steps × batch`. Phase 3 reads the whole split,
 * in the same seeded round-robin order over documents (`limit` without a bound), several passes:
 * the dataset visits its fixed length-bucketed batches in a new seeded order each pass.
 */
function trainingConversations(teacher: DemoTeacher, phase: Phase): DemoConversation[] {
  if (teacher.domain !== undefined && phase === 3)
    return splitConversations(teacher.domain, 'specialist', {
      limit: Number.POSITIVE_INFINITY,
      seed: SEED + 3,
    });
  if (teacher.domain !== undefined) {
    const first = teacher.training.steps * teacher.training.batchSize;
    const second = (teacher.training.continued?.steps ?? 0) * teacher.training.batchSize;
    const all = splitConversations(teacher.domain, 'specialist', { limit: first + second, seed: SEED });
    return phase === 1 ? all.slice(0, first) : all.slice(first);
  }
  // The pivot: phase 1 the first `conversationsPerDomain` of each domain, phase 2 the next
  // `continued.conversationsPerDomain` (unseen ones, over several passes).
  const perDomain = teacher.training.conversationsPerDomain ?? 100;
  const next = phase === 1 ? 0 : (teacher.training.continued?.conversationsPerDomain ?? 0);
  const mixed = DEMO_DOMAINS.map((domain) =>
    splitConversations(domain, 'specialist', { limit: perDomain + next, seed: SEED + 1 }).slice(
      phase === 1 ? 0 : perDomain,
    ),
  );
  // Interleaved, so every stretch of steps sees all three domains.
  return mixed[0]!.flatMap((_, i) => mixed.map((list) => list[i]).filter((c) => c !== undefined));
}

async function trainTeacher(teacher: DemoTeacher, index: number, phase: Phase): Promise<void> {
  const tokenizer = await tokenizerOf(teacher);
  const schedule =
    phase === 1
      ? { steps: teacher.training.steps, learningRate: teacher.training.learningRate }
      : phase === 2
        ? teacher.training.continued!
        : teacher.training.further!;
  const steps = tiny ? 3 : schedule.steps;
  const conversations = trainingConversations(teacher, phase).slice(0, tiny ? 64 : undefined);
  const runName = phase === 1 ? teacher.name : `${teacher.name}-phase${phase}`;
  const dataDir = join(work, 'data');
  await mkdir(dataDir, { recursive: true });
  const dataFile = join(dataDir, `${runName}.jsonl`);
  await writeFile(dataFile, `${conversations.map((c) => lmLine(tokenizer, c)).join('\n')}\n`);
  const dataset = await createChatDataset({ dataFile, tokenizer, batchSize: teacher.training.batchSize });
  const config = {
    ...teacher.config,
    vocabSize: tokenizer.vocabSize,
    bosTokenId: tokenizer.specialTokens.bos ?? null,
    eosTokenId: tokenizer.specialTokens.eos ?? null,
  };
  // Phases 2 and 3 start from the previous phase's saved weights (bf16, as committed).
  let model: CausalLM;
  if (phase === 1) model = createModel(config, { seed: SEED + index });
  else {
    const start = join(work, `phase${phase - 1}`, teacher.name);
    await rm(start, { recursive: true, force: true });
    await materializeDemoTeacher(teacher.name, start, out);
    model = await loadModel(start);
  }
  const parameters = [...model.weights.values()].reduce((total, weight) => total + weight.size, 0);
  log(
    `${teacher.name}: ${teacher.config.modelType}, ${(parameters / 1e6).toFixed(2)}M parameters ` +
      `(${((parameters * 2) / 1e6).toFixed(1)} MB bf16), vocab ${tokenizer.vocabSize}; ` +
      `phase ${phase}: ${conversations.length} conversations (${dataset.batchesPerEpoch} batches/epoch), ${steps} steps`,
  );
  const teacherStarted = performance.now();
  try {
    const result = await train({
      model,
      dataset,
      outputDir: join(work, 'train', runName),
      training: {
        learningRate: schedule.learningRate,
        maxSteps: steps,
        lrSchedulerType: 'cosine',
        warmupRatio: 0.05,
        weightDecay: 0.01,
        maxGradNorm: 1,
        loggingSteps: 5,
        saveSteps: tiny ? steps : 40,
        saveTotalLimit: 1,
        seed: SEED + index + (phase - 1) * 100,
      },
      resume: 'auto',
      workers,
      callbacks: [
        {
          onStepEnd: (state) => {
            if (state.step % 10 === 0 || state.step === steps)
              log(`  ${runName} step ${state.step}/${steps} loss ${state.loss.toFixed(3)}`);
          },
        },
      ],
    });
    const target = join(out, teacher.name);
    await rm(target, { recursive: true, force: true });
    // tokenizerDirectory = target: no tokenizer.json copied in (phases 2 and 3 load from a full checkpoint).
    await saveModel(model, target, { dtype: 'BF16', tokenizerDirectory: target });
    const tokenizerConfig = JSON.parse(
      await readFile(demoTokenizerFiles(teacher.tokenizer).tokenizerConfig, 'utf8'),
    ) as Record<string, unknown>;
    tokenizerConfig.chat_template = DEMO_CHAT_TEMPLATE;
    await writeFile(join(target, 'tokenizer_config.json'), `${JSON.stringify(tokenizerConfig, null, 2)}\n`);
    await writeFile(
      join(target, 'generation_config.json'),
      `${JSON.stringify({ bos_token_id: config.bosTokenId, eos_token_id: config.eosTokenId, do_sample: true, temperature: 0.7, top_p: 0.9 }, null, 2)}\n`,
    );
    const seconds = (performance.now() - teacherStarted) / 1000;
    log(
      `${runName}: done, loss ${result.finalLoss?.toFixed(3)}, ${Math.round(result.tokensPerSecond)} tokens/s, ` +
        `${formatDuration(seconds)} → ${target}`,
    );
    await writeFile(
      join(work, `${runName}.training.json`),
      `${JSON.stringify({ name: teacher.name, steps, parameters, finalLoss: result.finalLoss, tokensPerSecond: result.tokensPerSecond, seconds, conversations: conversations.length }, null, 2)}\n`,
    );
  } finally {
    model.dispose();
    await dataset.close?.();
  }
}

/** Per-domain test perplexity of a committed teacher (responses only), per token and per word, and a sample. */
async function evaluateTeacher(teacher: DemoTeacher) {
  const tokenizer = await tokenizerOf(teacher);
  const dir = join(work, 'eval', teacher.name);
  await rm(dir, { recursive: true, force: true });
  await materializeDemoTeacher(teacher.name, dir, out);
  const model = await loadModel(dir);
  const rows: { domain: string; perplexity: number; wordPerplexity: number; tokens: number }[] = [];
  const samples: { domain: string; prompt: string; completion: string }[] = [];
  try {
    for (const domain of DEMO_DOMAINS) {
      const test = splitConversations(domain, 'test', { limit: tiny ? 8 : 120, seed: SEED + 2 });
      const file = join(work, 'data', `test-${domain}.jsonl`);
      await mkdir(join(work, 'data'), { recursive: true });
      await writeFile(file, `${test.map(chatLine).join('\n')}\n`);
      const dataset = await createChatDataset({
        dataFile: file,
        tokenizer,
        chatTemplate: DEMO_CHAT_TEMPLATE,
        batchSize: 8,
      });
      const batches = [];
      for (let i = 0; i < dataset.batchesPerEpoch; i++) batches.push(await dataset.batch(0, i, 0));
      const result = await evaluatePerplexity(model, batches);
      // Per word (whitespace-separated, plus the closing end-of-turn): comparable across tokenizers.
      const words = test.reduce((total, c) => total + c.response.split(/\s+/).length + 1, 0);
      rows.push({
        domain,
        perplexity: result.perplexity,
        wordPerplexity: Math.exp((result.loss * result.tokens) / words),
        tokens: result.tokens,
      });
      const { text } = renderChat([{ role: 'user', content: test[0]!.prompt }], {
        tokenizer,
        chatTemplate: DEMO_CHAT_TEMPLATE,
        addGenerationPrompt: true,
      });
      const ids = tokenizer.encode(text, { addSpecialTokens: false });
      const generated = await model.generate(ids, {
        maxNewTokens: 40,
        temperature: 0.7,
        topP: 0.9,
        seed: SEED,
      });
      samples.push({
        domain,
        prompt: test[0]!.prompt,
        completion: tokenizer.decode(generated.tokens, { skipSpecialTokens: true }),
      });
    }
  } finally {
    model.dispose();
  }
  return { name: teacher.name, rows, samples };
}

if (!(args['evaluate-only'] ?? false)) {
  if ((args['phase2-only'] ?? false) && (args['phase3-only'] ?? false))
    throw new Error('--phase2-only and --phase3-only exclude each other: pick the phase to start from.');
  const from = (args['phase3-only'] ?? false) ? 3 : (args['phase2-only'] ?? false) ? 2 : 1;
  const missing = teachers.filter((teacher) =>
    from === 3
      ? teacher.training.further === undefined
      : from === 2 && teacher.training.continued === undefined,
  );
  if (missing.length > 0)
    throw new Error(
      `${missing.map((t) => t.name).join(', ')}: no phase ${from} in DEMO_TEACHERS, so --phase${from}-only would train nothing.`,
    );
  for (const teacher of teachers) {
    const index = DEMO_TEACHERS.indexOf(teacher);
    if (from <= 1) await trainTeacher(teacher, index, 1);
    if (from <= 2 && teacher.training.continued !== undefined) await trainTeacher(teacher, index, 2);
    if (from <= 3 && teacher.training.further !== undefined) await trainTeacher(teacher, index, 3);
  }
}
if (!(args['skip-evaluation'] ?? false)) {
  const evaluations = [];
  for (const teacher of teachers) {
    log(`evaluating ${teacher.name}`);
    evaluations.push(await evaluateTeacher(teacher));
  }
  await writeFile(join(work, 'evaluation.json'), `${JSON.stringify(evaluations, null, 2)}\n`);
  console.log(`\n| teacher | ${DEMO_DOMAINS.map((d) => `${d} ppl (per word)`).join(' | ')} |`);
  console.log(`|---|${DEMO_DOMAINS.map(() => '---').join('|')}|`);
  for (const evaluation of evaluations) {
    console.log(
      `| ${evaluation.name} | ${evaluation.rows.map((row) => `${row.perplexity.toFixed(1)} (${row.wordPerplexity.toFixed(0)})`).join(' | ')} |`,
    );
  }
  for (const evaluation of evaluations) {
    for (const sample of evaluation.samples)
      console.log(
        `\n${evaluation.name} on ${sample.domain}: ${JSON.stringify(sample.prompt)}\n  → ${JSON.stringify(sample.completion)}`,
      );
  }
}
log('finished');
