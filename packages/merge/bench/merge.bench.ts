// `pnpm bench merge`: three ~1 GB F32 checkpoints (a pivot and two fine-tuned targets, 24 tensors
// of ~42 MB with Llama-style names) merged with VaRM, TIES and SCE. Wall time is reported as a
// ratio to the I/O floor measured in the same run (read every input tensor + write one output
// with the same reader/writer, no math); peak RSS of each merge (in a fresh child process) as a
// fraction of the input size. Writes bench-results/merge.json. Temp files live under os.tmpdir()
// and are removed afterwards.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createCheckpointWriter, openCheckpoint } from '@fusechat/safetensors';
import { mergeModels } from '../src/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const LAYERS = 8;
const HIDDEN = 4096;
const INTERMEDIATE = 2560;

interface ChildResult {
  readonly seconds: number;
  readonly maxRssBytes: number;
  /** User + system CPU seconds of the whole process (all threads): less sensitive to load than wall time. */
  readonly cpuSeconds: number;
  readonly timings?: { readWait: number; compute: number; writeWait: number };
}

function tensorPlan() {
  const plan: { name: string; shape: number[] }[] = [];
  for (let layer = 0; layer < LAYERS; layer++) {
    plan.push({ name: `model.layers.${layer}.mlp.gate_proj.weight`, shape: [INTERMEDIATE, HIDDEN] });
    plan.push({ name: `model.layers.${layer}.mlp.up_proj.weight`, shape: [INTERMEDIATE, HIDDEN] });
    plan.push({ name: `model.layers.${layer}.mlp.down_proj.weight`, shape: [HIDDEN, INTERMEDIATE] });
    plan.push({ name: `model.layers.${layer}.input_layernorm.weight`, shape: [HIDDEN] });
  }
  plan.push({ name: 'model.norm.weight', shape: [HIDDEN] });
  return plan;
}

/** Cheap deterministic fill (xorshift32 → uniform in ±scale); normal samples would dominate setup time. */
function fill(out: Float32Array, seed: number, scale: number, base?: Float32Array) {
  let state = seed >>> 0 || 1;
  for (let i = 0; i < out.length; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    const uniform = (state >>> 0) / 4294967296 - 0.5;
    out[i] = (base ? base[i]! : 0) + scale * uniform;
  }
}

async function writeModel(dir: string, seed: number, baseDir?: string) {
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'config.json'),
    JSON.stringify({
      model_type: 'llama',
      num_hidden_layers: LAYERS,
      hidden_size: HIDDEN,
      vocab_size: 32000,
    }),
  );
  writeFileSync(join(dir, 'tokenizer.json'), '{}');
  const plan = tensorPlan();
  const base = baseDir ? await openCheckpoint(baseDir) : undefined;
  const writer = await createCheckpointWriter(
    dir,
    plan.map((entry) => ({ ...entry, dtype: 'F32' as const })),
    { maxShardBytes: 500_000_000 },
  );
  for (const [index, entry] of plan.entries()) {
    const values = new Float32Array(entry.shape.reduce((a, b) => a * b, 1));
    const from = base ? await base.readFloat32(entry.name) : undefined;
    fill(values, seed * 7919 + index, from ? 0.002 * seed : 0.05, from);
    await writer.write(entry.name, values);
  }
  await writer.close();
  await base?.close();
}

async function ioFloor(inputs: string[], out: string): Promise<void> {
  const checkpoints = await Promise.all(inputs.map((dir) => openCheckpoint(dir)));
  const plan = tensorPlan();
  const writer = await createCheckpointWriter(
    out,
    plan.map((entry) => ({ ...entry, dtype: 'F32' as const })),
    { maxShardBytes: 5_000_000_000 },
  );
  for (const entry of plan) {
    const values = await Promise.all(checkpoints.map((checkpoint) => checkpoint.readFloat32(entry.name)));
    await writer.write(entry.name, values[0]!);
  }
  await writer.close();
  await Promise.all(checkpoints.map((checkpoint) => checkpoint.close()));
}

const CONFIGS: Record<string, (root: string) => Record<string, unknown>> = {
  variation_ratio: (root) => ({
    merge_method: 'variation_ratio',
    base_model: join(root, 'pivot'),
    models: [{ model: join(root, 'target-1') }, { model: join(root, 'target-2') }],
  }),
  ties: (root) => ({
    merge_method: 'ties',
    base_model: join(root, 'pivot'),
    parameters: { weight: 1, density: 0.5 },
    models: [{ model: join(root, 'target-1') }, { model: join(root, 'target-2') }],
  }),
  sce: (root) => ({
    merge_method: 'sce',
    base_model: join(root, 'pivot'),
    parameters: { select_topk: 0.1 },
    models: [{ model: join(root, 'target-1') }, { model: join(root, 'target-2') }],
  }),
};

async function child(task: string, root: string, out: string) {
  const started = performance.now();
  let timings: ChildResult['timings'];
  if (task === 'io-floor')
    await ioFloor(
      ['pivot', 'target-1', 'target-2'].map((name) => join(root, name)),
      out,
    );
  else {
    const [method, mode] = task.split(':');
    const result = await mergeModels(CONFIGS[method!]!(root), {
      out,
      overwrite: true,
      prefetch: mode !== 'no-prefetch',
    });
    timings = result.timings;
  }
  const result: ChildResult = {
    seconds: (performance.now() - started) / 1000,
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
    cpuSeconds: (process.cpuUsage().user + process.cpuUsage().system) / 1e6,
    ...(timings ? { timings } : {}),
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

function runChild(task: string, root: string, out: string): ChildResult {
  rmSync(out, { recursive: true, force: true });
  const stdout = execFileSync(
    process.execPath,
    ['--conditions=source', '--import', 'tsx', fileURLToPath(import.meta.url), '--child', task, root, out],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
  );
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as ChildResult;
}

async function main() {
  const root = mkdtempSync(join(tmpdir(), 'fusechat-merge-bench-'));
  try {
    const setupStart = performance.now();
    await writeModel(join(root, 'pivot'), 1);
    await writeModel(join(root, 'target-1'), 2, join(root, 'pivot'));
    await writeModel(join(root, 'target-2'), 3, join(root, 'pivot'));
    const inputBytes =
      3 * tensorPlan().reduce((sum, entry) => sum + 4 * entry.shape.reduce((a, b) => a * b, 1), 0);
    console.log(
      `setup: 3 checkpoints, ${(inputBytes / 1e9).toFixed(2)} GB in all, ${((performance.now() - setupStart) / 1000).toFixed(1)} s`,
    );

    const out = join(root, 'out');
    // Warm the page cache the same way for every run; the floor is the faster of two runs.
    runChild('io-floor', root, out);
    const floors = [runChild('io-floor', root, out), runChild('io-floor', root, out)];
    const floor = floors[0]!.seconds <= floors[1]!.seconds ? floors[0]! : floors[1]!;
    const rows: Record<string, unknown>[] = [
      {
        task: 'io-floor',
        seconds: floor.seconds,
        cpuSeconds: floor.cpuSeconds,
        ratio: 1,
        peakRssMB: floor.maxRssBytes / 1e6,
        rssOfInput: floor.maxRssBytes / inputBytes,
      },
    ];
    for (const task of [...Object.keys(CONFIGS), 'variation_ratio:no-prefetch', 'ties:workers-2']) {
      // Two runs: the faster one's time (the machine is shared), the larger peak RSS.
      const runs = [runChild(task, root, out), runChild(task, root, out)];
      const fastest = runs[0]!.seconds <= runs[1]!.seconds ? runs[0]! : runs[1]!;
      const result = { ...fastest, maxRssBytes: Math.max(runs[0]!.maxRssBytes, runs[1]!.maxRssBytes) };
      rows.push({
        task,
        seconds: result.seconds,
        cpuSeconds: result.cpuSeconds,
        ratio: result.seconds / floor.seconds,
        peakRssMB: result.maxRssBytes / 1e6,
        rssOfInput: result.maxRssBytes / inputBytes,
        ...(result.timings ? { timings: result.timings } : {}),
      });
    }
    const load = loadavg();
    console.log(`\nload average ${load.map((x) => x.toFixed(2)).join(' ')} on ${cpus().length} cores`);
    console.log(
      'task                          seconds  × I/O floor  cpu s  peak RSS MB  RSS / input  read wait / compute / write wait s',
    );
    for (const row of rows) {
      const t = row.timings as ChildResult['timings'];
      console.log(
        `${String(row.task).padEnd(28)} ${(row.seconds as number).toFixed(2).padStart(8)} ${(row.ratio as number).toFixed(2).padStart(12)} ${(row.cpuSeconds as number).toFixed(1).padStart(6)} ${(row.peakRssMB as number).toFixed(0).padStart(12)} ${((row.rssOfInput as number) * 100).toFixed(1).padStart(10)}%  ${t ? `${t.readWait.toFixed(1)} / ${t.compute.toFixed(1)} / ${t.writeWait.toFixed(1)}` : ''}`,
      );
    }
    const resultsDir = join(here, '..', '..', '..', 'bench-results');
    mkdirSync(resultsDir, { recursive: true });
    writeFileSync(
      join(resultsDir, 'merge.json'),
      `${JSON.stringify({ date: new Date().toISOString(), loadAverage: load, cores: cpus().length, inputBytes, rows }, null, 2)}\n`,
    );
    console.log(`\nwrote ${join('bench-results', 'merge.json')}`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

const childIndex = process.argv.indexOf('--child');
if (childIndex >= 0) {
  const [task, root, out] = process.argv.slice(childIndex + 1);
  await child(task!, root!, out!);
} else {
  await main();
}
