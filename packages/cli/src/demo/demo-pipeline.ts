import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify as stringifyYaml } from 'yaml';
import { DEMO_DEFAULTS } from './demo-defaults.js';
import {
  chatLine,
  DEMO_DOMAINS,
  type DemoConversation,
  type DemoDomain,
  splitConversations,
} from './demo-domains.js';
import { DEMO_TEACHERS, materializeDemoTeacher } from './demo-teachers.js';

/** What the demo's pipeline runs on and how long it trains; the defaults fit ~10 minutes on 2 cores. */
export interface DemoPipelineOptions {
  /** Conversations per domain in the fusion train data (captured by every model, trained on). */
  readonly fusionExamples?: number;
  /** Conversations per domain in each held-out split (validation, test). */
  readonly evalExamples?: number;
  /** Also write and evaluate the validation split (the reproduction chooses hyperparameters on it). */
  readonly validation?: boolean;
  /** Optimizer steps of every target and of the CLM-only control. */
  readonly targetSteps?: number;
  readonly learningRate?: number;
  /** λ of `λ·CLM + (1−λ)·fusion` (FuseChat: 0.9). */
  readonly lambda?: number;
  readonly batchSize?: number;
  /** Merge method of the targets (default `variation-ratio`, VaRM) and its parameters. */
  readonly mergeMethod?: string;
  readonly mergeParameters?: Readonly<Record<string, unknown>>;
  readonly seed?: number;
  /** Seed choosing the conversations (default `seed`): fixed while `seed` varies, the data stay the same. */
  readonly dataSeed?: number;
  /** Where the committed teachers are (default `packages/cli/demo-teachers`). */
  readonly teachersDirectory?: string;
  /** Name of the run directory inside `out` (default `run`). */
  readonly runName?: string;
  /** File name of the config inside `out` (default `pipeline.yml`); several configs can share the teachers and data. */
  readonly configName?: string;
}

/** Where {@link writeDemoPipeline} put things. */
export interface DemoPipelineFiles {
  /** `out/pipeline.yml`: the built-in config, runnable again with `fusechat run`. */
  readonly config: string;
  readonly runDir: string;
  /** Conversations written per file (fusion train, then the held-out splits by domain). */
  readonly counts: Readonly<Record<string, number>>;
  /** The prompts the pivot, targets and fused model complete for the report. */
  readonly samplePrompts: readonly string[];
}

/** The demo's defaults (defined in demo-defaults.ts, which `fusechat demo` reads without loading this module). */
export { DEMO_DEFAULTS };

/** Longest conversation captured, trained on and evaluated (the demo's conversations are ~150 tokens). */
const MAX_LENGTH = 192;

/** One list of conversations, interleaved across domains, so every batch holds all three. */
function interleave(lists: readonly (readonly DemoConversation[])[]): DemoConversation[] {
  const longest = Math.max(0, ...lists.map((list) => list.length));
  const out: DemoConversation[] = [];
  for (let i = 0; i < longest; i++) for (const list of lists) if (i < list.length) out.push(list[i]!);
  return out;
}

async function writeJsonl(path: string, conversations: readonly DemoConversation[]): Promise<void> {
  await writeFile(path, `${conversations.map(chatLine).join('\n')}\n`);
}

/**
 * Writes everything `fusechat run` needs for the demo into `out`: the committed teachers as
 * complete Hugging Face checkpoints (`teachers/<name>`), the data (`data/fusion-train.jsonl` from
 * the fusion documents of all three domains, `data/test-<domain>.jsonl` and optionally
 * `data/validation-<domain>.jsonl` from documents held out from every model), and
 * `pipeline.yml`, the built-in config pointing at them with paths relative to `out`.
 *
 * @example
 * ```ts
 * const files = await writeDemoPipeline('fusechat-demo', { targetSteps: 30 });
 * const config = await loadPipelineConfig(files.config);
 * ```
 */
export async function writeDemoPipeline(
  out: string,
  options: DemoPipelineOptions = {},
): Promise<DemoPipelineFiles> {
  const settings = { ...DEMO_DEFAULTS, ...options };
  const runName = options.runName ?? 'run';
  const dataSeed = options.dataSeed ?? settings.seed;
  await mkdir(join(out, 'data'), { recursive: true });
  for (const teacher of DEMO_TEACHERS)
    await materializeDemoTeacher(
      teacher.name,
      join(out, 'teachers', teacher.name),
      options.teachersDirectory,
    );

  const counts: Record<string, number> = {};
  const fusion = interleave(
    DEMO_DOMAINS.map((domain) =>
      splitConversations(domain, 'fusion', { limit: settings.fusionExamples, seed: dataSeed }),
    ),
  );
  await writeJsonl(join(out, 'data', 'fusion-train.jsonl'), fusion);
  counts['fusion-train'] = fusion.length;
  const heldOut = async (split: 'validation' | 'test') => {
    const files: { name: DemoDomain; path: string }[] = [];
    for (const domain of DEMO_DOMAINS) {
      const conversations = splitConversations(domain, split, {
        limit: settings.evalExamples,
        seed: dataSeed,
      });
      const path = `data/${split}-${domain}.jsonl`;
      await writeJsonl(join(out, path), conversations);
      counts[`${split}-${domain}`] = conversations.length;
      files.push({ name: domain, path });
    }
    return files;
  };
  const test = await heldOut('test');
  const validation = options.validation === true ? await heldOut('validation') : undefined;
  // One prompt per domain, from test documents: what nobody trained on.
  const samplePrompts = DEMO_DOMAINS.map(
    (domain) => splitConversations(domain, 'test', { limit: 1, seed: dataSeed + 1 })[0]!.prompt,
  );

  const config = {
    name: 'fusechat-demo',
    run_dir: runName,
    seed: settings.seed,
    pivot: { name: 'pivot', model: 'teachers/pivot' },
    sources: DEMO_TEACHERS.filter((teacher) => teacher.role === 'source').map((teacher) => ({
      name: teacher.name,
      model: `teachers/${teacher.name}`,
      // The sources sharing the pivot's vocabulary map token for token; Qwen3's 151k byte-level
      // vocabulary is mapped from co-aligned tokens over the data (cheap, and FuseChat's choice).
      mapping: teacher.tokenizer === DEMO_TEACHERS[0]!.tokenizer ? 'exact' : 'statistics',
    })),
    data: {
      train: 'data/fusion-train.jsonl',
      ...(validation === undefined ? {} : { validation }),
      test,
    },
    // 1024 padded tokens per forward pass: the Qwen3-vocabulary teacher's logits are then
    // 1024 × 151,669 floats (620 MB); twice that overflows the wasm heap.
    capture: { top_k: 10, max_length: MAX_LENGTH, batch_tokens: 1024 },
    training: {
      lambda: settings.lambda,
      fusion: 'min-ce',
      learning_rate: settings.learningRate,
      max_steps: settings.targetSteps,
      batch_size: settings.batchSize,
      lr_scheduler_type: 'cosine',
      warmup_ratio: 0.1,
      weight_decay: 0,
      model_max_length: MAX_LENGTH,
      control: true,
    },
    merge: {
      method: settings.mergeMethod,
      ...(options.mergeParameters === undefined ? {} : { parameters: options.mergeParameters }),
    },
    eval: { batch_size: 4, max_length: MAX_LENGTH },
    // Greedy with transformers' repetition controls, the same for every model: small models loop
    // without them ("the whale, and the whale, …"), and the penalty can make a barely trained
    // model's first choice the end of its turn, so at least 8 tokens are asked of each.
    report: {
      samples: {
        prompts: samplePrompts,
        max_new_tokens: 32,
        repetition_penalty: 1.3,
        no_repeat_ngram_size: 3,
        min_new_tokens: 8,
      },
    },
  };
  const configPath = join(out, options.configName ?? 'pipeline.yml');
  await writeFile(
    configPath,
    `# fusechat demo's built-in pipeline (written by \`fusechat demo\`); rerun with: fusechat run ${configPath}\n${stringifyYaml(config)}`,
  );
  return { config: configPath, runDir: join(out, runName), counts, samplePrompts };
}
