import { existsSync, readFileSync } from 'node:fs';
import { copyFile, mkdir, readdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InvalidInputError } from '@fusechat/core';
import type { ModelConfigInput } from '@fusechat/model';
import { type DemoTokenizerName, demoTokenizerFiles } from './demo-assets.js';
import type { DemoDomain } from './demo-domains.js';

/** One of the demo's committed teachers: what it is and how `scripts/demo-teachers` trained it. */
export interface DemoTeacher {
  /** Directory name under `packages/cli/demo-teachers/` and the model's name in the pipeline. */
  readonly name: string;
  readonly role: 'pivot' | 'source';
  /** The domain a specialist was trained on (the pivot: all three, a little of each). */
  readonly domain?: DemoDomain;
  readonly tokenizer: DemoTokenizerName;
  /** Architecture and sizes (vocabulary and special tokens come from the tokenizer). */
  readonly config: Omit<ModelConfigInput, 'vocabSize' | 'bosTokenId' | 'eosTokenId'>;
  /** How long it was trained: optimizer steps of `batchSize` conversations at `learningRate` (cosine). */
  readonly training: {
    readonly steps: number;
    readonly batchSize: number;
    readonly learningRate: number;
    /** Pivot only: conversations per domain it sees (the specialists see all of their split). */
    readonly conversationsPerDomain?: number;
    /**
     * A second phase from the first one's saved (bf16) weights on the next, unseen conversations
     * of the domain (the pivot: the next `conversationsPerDomain` of each domain, over several
     * passes): a warm restart with its own cosine schedule.
     */
    readonly continued?: {
      readonly steps: number;
      readonly learningRate: number;
      readonly conversationsPerDomain?: number;
    };
    /**
     * A third phase from the second one's saved (bf16) weights over the whole specialist split,
     * several passes (the dataset's fixed length-bucketed batches in a new seeded order each):
     * a warm restart with its own cosine schedule.
     */
    readonly further?: { readonly steps: number; readonly learningRate: number };
  };
}

/** The schedule of the two 32k-vocabulary specialists (moby-dick, email): three phases. */
const SPECIALIST_32K_TRAINING: DemoTeacher['training'] = {
  steps: 120,
  batchSize: 8,
  learningRate: 4e-3,
  continued: { steps: 300, learningRate: 3e-3 },
  further: { steps: 2000, learningRate: 2e-3 },
};

/**
 * The demo's teachers: a weak generalist pivot and three domain specialists, with two real
 * vocabularies (Mistral's 32k SentencePiece, Qwen3's 151k byte-level BPE) and three
 * architectures. Sizes are set by the 40 MB budget of the committed bf16 weights, where the tied
 * embedding (vocab × hidden × 2 bytes) dominates, and by training throughput on 2 CPU cores,
 * where the lm_head (vocab × hidden per token) does. See scripts/demo-teachers/README.md.
 */
export const DEMO_TEACHERS: readonly DemoTeacher[] = [
  {
    name: 'pivot',
    role: 'pivot',
    tokenizer: 'mistral',
    config: {
      modelType: 'llama',
      hiddenSize: 64,
      intermediateSize: 192,
      numHiddenLayers: 2,
      numAttentionHeads: 4,
      numKeyValueHeads: 2,
      tieWordEmbeddings: true,
      maxPositionEmbeddings: 512,
    },
    training: {
      steps: 80,
      batchSize: 8,
      learningRate: 5e-3,
      conversationsPerDomain: 214,
      // 500 more of each domain, about 2 passes: the pivot still sees at most a third of any
      // specialist's conversations, and is a quarter of the 32k specialists' size.
      continued: { steps: 400, learningRate: 3e-3, conversationsPerDomain: 500 },
    },
  },
  {
    name: 'moby-dick',
    role: 'source',
    domain: 'moby-dick',
    tokenizer: 'mistral',
    config: {
      modelType: 'mistral',
      hiddenSize: 128,
      intermediateSize: 384,
      numHiddenLayers: 4,
      numAttentionHeads: 4,
      numKeyValueHeads: 2,
      tieWordEmbeddings: true,
      slidingWindow: 256,
      maxPositionEmbeddings: 512,
    },
    training: SPECIALIST_32K_TRAINING,
  },
  {
    name: 'email',
    role: 'source',
    domain: 'email',
    tokenizer: 'mistral',
    config: {
      modelType: 'llama',
      hiddenSize: 128,
      intermediateSize: 352,
      numHiddenLayers: 4,
      numAttentionHeads: 8,
      numKeyValueHeads: 8,
      tieWordEmbeddings: true,
      maxPositionEmbeddings: 512,
    },
    training: SPECIALIST_32K_TRAINING,
  },
  {
    name: 'sotu',
    role: 'source',
    domain: 'sotu',
    tokenizer: 'qwen3',
    config: {
      modelType: 'qwen2',
      hiddenSize: 48,
      intermediateSize: 192,
      numHiddenLayers: 3,
      numAttentionHeads: 4,
      numKeyValueHeads: 2,
      tieWordEmbeddings: true,
      maxPositionEmbeddings: 512,
    },
    // Batches of 4: [8, 192, 151669] float32 logits (932 MB) overflow the wasm heap.
    training: {
      steps: 140,
      batchSize: 4,
      learningRate: 5e-3,
      continued: { steps: 250, learningRate: 3e-3 },
      further: { steps: 800, learningRate: 2e-3 },
    },
  },
];

/** Looks a teacher up by name; an unknown name lists the known ones. */
export function demoTeacher(name: string): DemoTeacher {
  const teacher = DEMO_TEACHERS.find((candidate) => candidate.name === name);
  if (teacher === undefined) {
    throw new InvalidInputError(
      `No demo teacher named "${name}". Known: ${DEMO_TEACHERS.map((t) => t.name).join(', ')}.`,
      { code: 'CLI_DEMO_TEACHER_MISSING', field: 'teacher' },
    );
  }
  return teacher;
}

/**
 * `packages/cli/demo-teachers`, found from this file both in the sources (`src/demo/`) and in
 * the bundled CLI (`dist/`): the nearest ancestor holding the CLI's package.json.
 */
export function demoTeachersDirectory(): string {
  let directory = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = join(directory, 'package.json');
    if (
      existsSync(manifest) &&
      (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === '@fusechat/cli'
    )
      return join(directory, 'demo-teachers');
    const parent = dirname(directory);
    if (parent === directory) {
      throw new InvalidInputError('Cannot find the @fusechat/cli package directory holding demo-teachers/.', {
        code: 'CLI_DEMO_TEACHER_MISSING',
      });
    }
    directory = parent;
  }
}

/**
 * Copies a committed teacher into `dir` as a complete Hugging Face checkpoint: the committed
 * config, bf16 weights and tokenizer_config.json (with the demo chat template), plus the
 * `tokenizer.json` of its npm tokenizer package (not committed twice: Qwen3's alone is 11 MB).
 *
 * @example
 * ```ts
 * await materializeDemoTeacher('sotu', 'fusechat-demo/teachers/sotu');
 * ```
 */
export async function materializeDemoTeacher(
  name: string,
  dir: string,
  from: string = demoTeachersDirectory(),
): Promise<void> {
  const teacher = demoTeacher(name);
  const committed = join(from, name);
  if (!existsSync(join(committed, 'model.safetensors'))) {
    throw new InvalidInputError(
      `The demo teacher "${name}" is missing (${committed}/model.safetensors): run scripts/demo-teachers/train-demo-teachers.ts.`,
      { code: 'CLI_DEMO_TEACHER_MISSING', details: { path: committed } },
    );
  }
  await mkdir(dir, { recursive: true });
  for (const file of await readdir(committed)) await copyFile(join(committed, file), join(dir, file));
  await copyFile(demoTokenizerFiles(teacher.tokenizer).tokenizerJson, join(dir, 'tokenizer.json'));
}
