import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createRandom } from '@fusechat/core';
import {
  builtinMergeMethods,
  createMergeRegistry,
  type MergeModelsResult,
  mergeModels,
} from '@fusechat/merge';
import { openCheckpoint, writeSafetensors } from '@fusechat/safetensors';
import { trimmedMean } from './trimmed-mean.js';

/** The built-ins plus ours: a registry is a value passed to `mergeModels`, not global state. */
export const registry = createMergeRegistry({ ...builtinMergeMethods, trimmedMean });

const HIDDEN = 8;
const VOCAB = 32;
const LAYERS = 2;

/** Names and shapes of a 2-layer llama-style checkpoint (a subset of the tensors, HF names). */
export const TENSOR_SHAPES: ReadonlyMap<string, readonly number[]> = new Map<string, readonly number[]>([
  ['model.embed_tokens.weight', [VOCAB, HIDDEN]],
  ...Array.from({ length: LAYERS }, (_, layer): [string, readonly number[]][] => [
    [`model.layers.${layer}.self_attn.q_proj.weight`, [HIDDEN, HIDDEN]],
    [`model.layers.${layer}.mlp.up_proj.weight`, [2 * HIDDEN, HIDDEN]],
    [`model.layers.${layer}.mlp.down_proj.weight`, [HIDDEN, 2 * HIDDEN]],
  ]).flat(),
  ['model.norm.weight', [HIDDEN]],
  ['lm_head.weight', [VOCAB, HIDDEN]],
]);

type Weights = Map<string, Float32Array>;

/** The pivot, the task vector every target learned, and the three targets (in memory). */
export interface Family {
  readonly pivot: Weights;
  /** `θ0 + τ`: where a perfect merge of the targets would land. */
  readonly consensus: Weights;
  readonly targets: readonly Weights[];
}

async function writeCheckpoint(dir: string, weights: Weights): Promise<void> {
  await mkdir(dir, { recursive: true });
  const config = {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    vocab_size: VOCAB,
    hidden_size: HIDDEN,
    intermediate_size: 2 * HIDDEN,
    num_hidden_layers: LAYERS,
    num_attention_heads: 2,
    num_key_value_heads: 2,
    torch_dtype: 'float32',
  };
  await writeFile(join(dir, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
  const tensors = Object.fromEntries(
    [...weights].map(([name, data]) => [
      name,
      { dtype: 'F32' as const, shape: [...TENSOR_SHAPES.get(name)!], data },
    ]),
  );
  await writeSafetensors(join(dir, 'model.safetensors'), tensors, { metadata: { format: 'pt' } });
}

/**
 * Three targets fine-tuned from one pivot towards the same task vector τ, each with a little
 * noise of its own — except that target 3's MLP training went wrong (large noise on every
 * `mlp` tensor). Written to `dir/pivot`, `dir/target-{1,2,3}`.
 */
export async function writeFamily(dir: string, seed = 0): Promise<Family> {
  const random = createRandom(seed);
  const pivot: Weights = new Map();
  const consensus: Weights = new Map();
  const targets: Weights[] = [new Map(), new Map(), new Map()];
  for (const [name, shape] of TENSOR_SHAPES) {
    const size = shape.reduce((a, b) => a * b, 1);
    const base = random.fork(`pivot:${name}`).fillNormal(new Float32Array(size), 0, 0.1);
    const task = random.fork(`task:${name}`).fillNormal(new Float32Array(size), 0, 0.02);
    pivot.set(name, base);
    consensus.set(
      name,
      Float32Array.from(base, (value, i) => value + task[i]!),
    );
    targets.forEach((target, j) => {
      const noise = random.fork(`target-${j + 1}:${name}`);
      const scale = j === 2 && name.includes('.mlp.') ? 0.2 : 0.002;
      target.set(
        name,
        Float32Array.from(base, (value, i) => value + task[i]! + scale * noise.normal()),
      );
    });
  }
  await writeCheckpoint(join(dir, 'pivot'), pivot);
  await Promise.all(targets.map((target, j) => writeCheckpoint(join(dir, `target-${j + 1}`), target)));
  return { pivot, consensus, targets };
}

/** A mergekit-style config over the family, as `loadMergeConfig` would return it from YAML. */
export function mergeConfig(
  mergeMethod: string,
  parameters: Record<string, unknown>,
  perModelParameters?: Record<string, unknown>,
): Record<string, unknown> {
  return {
    merge_method: mergeMethod,
    base_model: './pivot',
    models: [1, 2, 3].map((j) => ({
      model: `./target-${j}`,
      ...(perModelParameters ? { parameters: perModelParameters } : {}),
    })),
    parameters,
    dtype: 'float32',
  };
}

/** Reads every tensor of a merged checkpoint as float32. */
export async function readWeights(dir: string): Promise<Weights> {
  const checkpoint = await openCheckpoint(dir);
  try {
    const weights: Weights = new Map();
    for (const name of checkpoint.tensors.keys()) weights.set(name, await checkpoint.readFloat32(name));
    return weights;
  } finally {
    await checkpoint.close();
  }
}

/** Root mean square of `a − b`. */
export function rmsDistance(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += (a[i]! - b[i]!) ** 2;
  return Math.sqrt(sum / a.length);
}

/** What {@link runCustomMerge} produced. */
export interface CustomMergeResult {
  readonly family: Family;
  readonly trimmed: { readonly merge: MergeModelsResult; readonly weights: Weights };
  readonly average: { readonly merge: MergeModelsResult; readonly weights: Weights };
}

/**
 * Writes the family to `workDir`, merges it with our `trimmed_mean` (median of three deltas) and,
 * for comparison, with the built-in `task_arithmetic` at weights 1/3 (the plain mean delta).
 *
 * @example
 * ```ts
 * const { trimmed, family } = await runCustomMerge('/tmp/custom-merge');
 * rmsDistance(trimmed.weights.get('lm_head.weight')!, family.consensus.get('lm_head.weight')!);
 * ```
 */
export async function runCustomMerge(
  workDir: string,
  options: { seed?: number } = {},
): Promise<CustomMergeResult> {
  const family = await writeFamily(workDir, options.seed ?? 0);
  const merge = async (name: string, config: Record<string, unknown>) => {
    const result = await mergeModels(config, { out: join(workDir, name), cwd: workDir, registry });
    return { merge: result, weights: await readWeights(result.out) };
  };
  const trimmed = await merge('trimmed-mean', mergeConfig('trimmed_mean', { trim: 0.34 }));
  const average = await merge(
    'task-arithmetic',
    mergeConfig('task_arithmetic', { lambda: 1 }, { weight: 1 / 3 }),
  );
  return { family, trimmed, average };
}

/** Per tensor, how far each merge landed from `θ0 + τ`. */
export function formatComparison(result: CustomMergeResult): string {
  const nameWidth = Math.max(...[...TENSOR_SHAPES.keys()].map((name) => name.length));
  const header = `${'tensor'.padEnd(nameWidth)}  ${'task_arithmetic'.padStart(16)}  ${'trimmed_mean'.padStart(14)}`;
  const rows = [...TENSOR_SHAPES.keys()].map((name) => {
    const target = result.family.consensus.get(name)!;
    const average = rmsDistance(result.average.weights.get(name)!, target);
    const trimmed = rmsDistance(result.trimmed.weights.get(name)!, target);
    return `${name.padEnd(nameWidth)}  ${average.toExponential(2).padStart(16)}  ${trimmed.toExponential(2).padStart(14)}`;
  });
  return [
    'RMS distance from θ0 + τ (lower is better; target-3 broke every mlp tensor):',
    '',
    header,
    '-'.repeat(header.length),
    ...rows,
  ].join('\n');
}

async function main(): Promise<void> {
  const workDir = await mkdtemp(join(tmpdir(), 'fusechat-custom-merge-'));
  try {
    console.log(`Registered methods: ${registry.names().join(', ')}\n`);
    console.log(formatComparison(await runCustomMerge(workDir)));
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main();
}
