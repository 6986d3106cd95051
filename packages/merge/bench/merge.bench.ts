// `pnpm bench merge`: three ~1 GB F32 checkpoints (a pivot and two fine-tuned targets, 24 tensors
// of ~42 MB with Llama-style names) merged by the real `fusechat merge` process with linear, VaRM,
// TIES and SCE. Each wall time is a ratio to the machine's I/O floor measured in the same run the
// way cat/dd do it: `cat` of every input file to /dev/null plus `dd` of an output-sized file with
// 16 MiB blocks and `conv=fsync` (no Node streaming in the floor). Peak RSS is the whole CLI
// process's (`/usr/bin/time -v`, maximum resident set size), as a fraction of the input size.
// Writes bench-results/merge.json. Checkpoints live under FUSECHAT_MERGE_BENCH_DIR (default
// /tmp/fusechat-merge-bench) and are removed afterwards unless FUSECHAT_MERGE_BENCH_KEEP=1.
//
// The CLI is bundled from the current sources with esbuild into the bench directory first (split
// into chunks loaded on use, dependencies inlined but tfjs-node's native packages), so it runs compiled, as an
// installed `fusechat` does, whatever state the workspace's dist folders are in; with
// FUSECHAT_MERGE_BENCH_SOURCE=1 it runs from the sources through tsx (≈5 s startup, +130 MB RSS);
// FUSECHAT_MERGE_BENCH_CLI=path.mjs runs another bundle (e.g. one of an earlier commit).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createCheckpointWriter, openCheckpoint } from '@fusechat/safetensors';

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '..', '..', '..');
const LAYERS = 8;
const HIDDEN = 4096;
const INTERMEDIATE = 2560;
const RUNS = Number(process.env.FUSECHAT_MERGE_BENCH_RUNS ?? 2);

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
  if (existsSync(join(dir, 'done'))) return;
  rmSync(dir, { recursive: true, force: true });
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
  writeFileSync(join(dir, 'done'), '');
}

const METHODS: Record<string, (root: string) => string> = {
  linear: (root) => `merge_method: linear
models:
  - { model: ${join(root, 'pivot')}, parameters: { weight: 0.2 } }
  - { model: ${join(root, 'target-1')}, parameters: { weight: 0.5 } }
  - { model: ${join(root, 'target-2')}, parameters: { weight: 0.3 } }
`,
  variation_ratio: (root) => `merge_method: variation_ratio
base_model: ${join(root, 'pivot')}
models: [{ model: ${join(root, 'target-1')} }, { model: ${join(root, 'target-2')} }]
`,
  ties: (root) => `merge_method: ties
base_model: ${join(root, 'pivot')}
parameters: { weight: 1, density: 0.5 }
models: [{ model: ${join(root, 'target-1')} }, { model: ${join(root, 'target-2')} }]
`,
  sce: (root) => `merge_method: sce
base_model: ${join(root, 'pivot')}
parameters: { select_topk: 0.1 }
models: [{ model: ${join(root, 'target-1')} }, { model: ${join(root, 'target-2')} }]
`,
};

interface Measurement {
  readonly seconds: number;
  readonly maxRssBytes: number;
  readonly cpuSeconds: number;
}

function weightFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((file) => file.endsWith('.safetensors'))
    .map((file) => join(dir, file));
}

/** cat every input byte to /dev/null, then dd an output-sized file with 16 MiB blocks and fsync. */
function floorRun(inputs: string[], out: string, outputBytes: number): Measurement {
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const block = 16 * 1024 * 1024;
  const started = performance.now();
  execFileSync('sh', ['-c', 'cat "$@" > /dev/null', 'cat', ...inputs]);
  execFileSync('dd', [
    'if=/dev/zero',
    `of=${join(out, 'model.safetensors')}`,
    `bs=${block}`,
    `count=${Math.ceil(outputBytes / block)}`,
    'conv=fsync',
    'status=none',
  ]);
  return { seconds: (performance.now() - started) / 1000, maxRssBytes: 0, cpuSeconds: 0 };
}

function bundleCli(root: string): string {
  const outdir = join(root, 'cli');
  rmSync(outdir, { recursive: true, force: true });
  // esbuild is this package's own devDependency: pnpm does not hoist a tool's esbuild to the root.
  execFileSync(join(here, '..', 'node_modules', '.bin', 'esbuild'), [
    join(repo, 'packages', 'cli', 'src', 'bin.ts'),
    '--bundle',
    '--platform=node',
    '--format=esm',
    '--target=node20',
    '--conditions=source',
    // Code splitting, as the published CLI loads a command's packages only when it runs: one
    // 8 MB file would make every merge parse the whole CLI (~0.3 s) first.
    '--splitting',
    `--outdir=${outdir}`,
    '--out-extension:.js=.mjs',
    '--external:@tensorflow/tfjs-node',
    '--external:@tensorflow/tfjs-node-gpu',
    "--banner:js=import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
    '--log-level=warning',
  ]);
  return join(outdir, 'bin.mjs');
}

let bundledCli = '';

function cliCommand(): string[] {
  if (process.env.FUSECHAT_MERGE_BENCH_SOURCE === '1')
    return [
      process.execPath,
      '--conditions=source',
      '--import',
      join(repo, 'scripts', 'register-source-hooks.mjs'),
      '--import',
      'tsx',
      join(repo, 'packages', 'cli', 'src', 'bin.ts'),
    ];
  return [process.execPath, process.env.FUSECHAT_MERGE_BENCH_CLI ?? bundledCli];
}

function mergeRun(root: string, method: string, out: string, extra: string[]): Measurement {
  rmSync(out, { recursive: true, force: true });
  const config = join(root, `${method}.yml`);
  writeFileSync(config, METHODS[method]!(root));
  const started = performance.now();
  const child = spawnSync(
    '/usr/bin/time',
    ['-v', ...cliCommand(), 'merge', config, '--out', out, '--overwrite', ...extra],
    { cwd: repo, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } },
  );
  const seconds = (performance.now() - started) / 1000;
  if (child.status !== 0)
    throw new Error(`fusechat merge ${method} failed:\n${child.stdout}\n${child.stderr}`);
  const field = (name: string) =>
    Number(new RegExp(`${name}: ([\\d.]+)`).exec(child.stderr)?.[1] ?? Number.NaN);
  return {
    seconds,
    maxRssBytes: field('Maximum resident set size \\(kbytes\\)') * 1024,
    cpuSeconds: field('User time \\(seconds\\)') + field('System time \\(seconds\\)'),
  };
}

async function main() {
  const root = process.env.FUSECHAT_MERGE_BENCH_DIR ?? '/tmp/fusechat-merge-bench';
  mkdirSync(root, { recursive: true });
  const only = process.argv.slice(2).filter((arg) => !arg.startsWith('-'));
  try {
    const setupStart = performance.now();
    await writeModel(join(root, 'pivot'), 1);
    await writeModel(join(root, 'target-1'), 2, join(root, 'pivot'));
    await writeModel(join(root, 'target-2'), 3, join(root, 'pivot'));
    const inputs = ['pivot', 'target-1', 'target-2'].flatMap((name) => weightFiles(join(root, name)));
    const inputBytes = inputs.reduce((sum, file) => sum + statSync(file).size, 0);
    const outputBytes = weightFiles(join(root, 'pivot')).reduce((sum, file) => sum + statSync(file).size, 0);
    console.log(
      `setup: 3 checkpoints, ${(inputBytes / 1e9).toFixed(2)} GB in all, ${((performance.now() - setupStart) / 1000).toFixed(1)} s`,
    );
    if (process.env.FUSECHAT_MERGE_BENCH_SOURCE !== '1') bundledCli = bundleCli(root);
    const out = join(root, 'out');
    const rows: Record<string, unknown>[] = [];
    // Warm the page cache the same way for every run; each task keeps its fastest run and largest RSS.
    floorRun(inputs, out, outputBytes);
    const measure = (task: string, run: () => Measurement) => {
      const runs = Array.from({ length: RUNS }, run);
      const fastest = runs.reduce((a, b) => (b.seconds < a.seconds ? b : a));
      const row = {
        task,
        seconds: fastest.seconds,
        allSeconds: runs.map((r) => r.seconds),
        cpuSeconds: fastest.cpuSeconds,
        maxRssBytes: Math.max(...runs.map((r) => r.maxRssBytes)),
        loadAverage: loadavg()[0],
      };
      rows.push(row);
      console.log(
        `${task.padEnd(28)} ${runs.map((r) => r.seconds.toFixed(2)).join(' / ')} s  RSS ${(row.maxRssBytes / 1e6).toFixed(0)} MB  load ${loadavg()[0]!.toFixed(2)}`,
      );
      return row;
    };
    const floor = measure('io-floor (cat + dd fsync)', () => floorRun(inputs, out, outputBytes));
    const tasks = only.length > 0 ? only : Object.keys(METHODS);
    for (const task of tasks) {
      const [method, flag] = task.split(':');
      measure(task, () => mergeRun(root, method!, out, flag ? [`--${flag}`] : []));
    }
    // The floor again after the merges: the ratio uses the faster of the two floors.
    const floorAfter = measure('io-floor again', () => floorRun(inputs, out, outputBytes));
    const floorSeconds = Math.min(floor.seconds, floorAfter.seconds);
    const load = loadavg();
    console.log(`\nload average ${load.map((x) => x.toFixed(2)).join(' ')} on ${cpus().length} cores`);
    console.log('task                          seconds  × I/O floor  cpu s  peak RSS MB  RSS / input');
    for (const row of rows) {
      const seconds = row.seconds as number;
      const rss = row.maxRssBytes as number;
      Object.assign(row, { ratio: seconds / floorSeconds, rssOfInput: rss / inputBytes });
      console.log(
        `${String(row.task).padEnd(28)} ${seconds.toFixed(2).padStart(8)} ${(seconds / floorSeconds).toFixed(2).padStart(12)} ${(row.cpuSeconds as number).toFixed(1).padStart(6)} ${(rss / 1e6).toFixed(0).padStart(12)} ${((rss / inputBytes) * 100).toFixed(1).padStart(10)}%`,
      );
    }
    const resultsDir = join(repo, 'bench-results');
    mkdirSync(resultsDir, { recursive: true });
    writeFileSync(
      join(resultsDir, 'merge.json'),
      `${JSON.stringify({ date: new Date().toISOString(), loadAverage: load, cores: cpus().length, inputBytes, floorSeconds, rows }, null, 2)}\n`,
    );
    console.log(`\nwrote ${join('bench-results', 'merge.json')}`);
  } finally {
    if (process.env.FUSECHAT_MERGE_BENCH_KEEP !== '1') rmSync(root, { recursive: true, force: true });
  }
}

await main();
