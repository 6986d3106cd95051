// pnpm bench backend — what the fast kernels and ops of @fusechat/backend buy on wasm and cpu:
// plain matMul vs transposeA/B matMul (tfjs's own kernels, then with installFastKernels),
// `linear` forward+backward vs tf.matMul(x, W, false, true) under tf.grads, and embedding gradients
// (wasm on 1 thread); then wasm's thread scaling: the hot matMul shapes at 1…cores threads, in
// `--rounds` interleaved rounds (ascending, then descending, …), each speed-up paired with the
// 1-thread run of its own round, `uptime` recorded per round.
//
//   node scripts/dev.mjs bench backend [--threads 1,2] [--rounds 3] [--only threads]
import { execSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { join } from 'node:path';

// Run through `pnpm bench`, which registers scripts/tfjs-esm-hook.mjs for tfjs-core's ESM files.
const tf = await import('@tensorflow/tfjs-core');
// Relative import: the bench measures this checkout's sources, not a build.
const { embeddingLookup, initBackend, installFastKernels, linear, measureMatMulGflops } = await import(
  '../src/index.js'
);

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2)
  args.set(process.argv[i]!.replace(/^--/, ''), process.argv[i + 1]!);
const threadCounts = (
  args.get('threads') ??
  Array.from({ length: Math.min(availableParallelism(), 8) }, (_, i) => i + 1).join(',')
)
  .split(',')
  .map(Number);
const rounds = Number(args.get('rounds') ?? 3);
const onlyThreads = args.get('only') === 'threads';

interface Row {
  backend: string;
  case: string;
  shape: string;
  ms: number;
  gflops?: number;
}

const rows: Row[] = [];
const loadBefore = execSync('uptime').toString().trim();

async function time(run: () => tf.Tensor | tf.Tensor[], repeats: number): Promise<number> {
  const once = async () => {
    const result = run();
    const list = Array.isArray(result) ? result : [result];
    await Promise.all(list.map((t) => t.data()));
    tf.dispose(list);
  };
  await once();
  const samples: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const start = performance.now();
    await once();
    samples.push(performance.now() - start);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor((samples.length - 1) / 2)]!;
}

function record(backend: string, name: string, shape: string, ms: number, flops?: number): void {
  const row: Row = { backend, case: name, shape, ms: Number(ms.toFixed(2)) };
  if (flops !== undefined) row.gflops = Number((flops / (ms / 1000) / 1e9).toFixed(2));
  rows.push(row);
  console.log(
    `${backend.padEnd(5)} ${name.padEnd(44)} ${shape.padEnd(22)} ${ms.toFixed(1).padStart(9)} ms ${
      row.gflops === undefined ? '' : `${row.gflops.toFixed(2).padStart(7)} GFLOP/s`
    }`,
  );
}

async function transposedMatMuls(backend: string, n: number, repeats: number, label: string): Promise<void> {
  const a = tf.randomNormal([n, n], 0, 1, 'float32', 1);
  const b = tf.randomNormal([n, n], 0, 1, 'float32', 2);
  const flops = 2 * n ** 3;
  for (const [transposeA, transposeB] of [
    [true, false],
    [false, true],
  ] as const) {
    const ms = await time(() => tf.matMul(a, b, transposeA, transposeB), repeats);
    record(backend, `tf.matMul transpose${transposeA ? 'A' : 'B'} (${label})`, `${n}x${n}x${n}`, ms, flops);
  }
  tf.dispose([a, b]);
}

async function linearForwardBackward(backend: string, tokens: number, features: number, repeats: number) {
  const x = tf.randomNormal([tokens, features], 0, 1, 'float32', 3);
  const w = tf.randomNormal([features, features], 0, 0.05, 'float32', 4);
  const flops = 3 * 2 * tokens * features * features;
  const shape = `x[${tokens},${features}] W[${features},${features}]`;
  const naive = tf.grads((input: tf.Tensor, weight: tf.Tensor) =>
    tf.sum(tf.matMul(input, weight, false, true)),
  );
  const ours = tf.grads((input: tf.Tensor, weight: tf.Tensor) => tf.sum(linear(input, weight)));
  return {
    naive: async (label: string) =>
      record(
        backend,
        `matMul(x,W,false,true) fwd+bwd (${label})`,
        shape,
        await time(() => naive([x, w]), repeats),
        flops,
      ),
    ours: async () =>
      record(backend, 'linear fwd+bwd', shape, await time(() => ours([x, w]), repeats), flops),
    dispose: () => tf.dispose([x, w]),
  };
}

async function embeddingGradients(
  backend: string,
  vocab: number,
  dim: number,
  tokens: number,
  repeats: number,
  label: string,
  withLookup: boolean,
) {
  const table = tf.randomNormal([vocab, dim], 0, 1, 'float32', 5);
  const ids = tf.randomUniform([tokens], 0, vocab, 'int32', 6);
  const shape = `table[${vocab},${dim}] ids[${tokens}]`;
  const gatherGrad = tf.grad((t: tf.Tensor) => tf.sum(tf.gather(t, ids)));
  try {
    record(backend, `tf.gather gradient (${label})`, shape, await time(() => gatherGrad(table), repeats));
  } catch (error) {
    console.log(`${backend.padEnd(5)} tf.gather gradient (${label}): fails: ${(error as Error).message}`);
    rows.push({ backend, case: `tf.gather gradient (${label})`, shape, ms: Number.NaN });
  }
  if (withLookup) {
    const lookupGrad = tf.grad((t: tf.Tensor) => tf.sum(embeddingLookup(t, ids)));
    record(
      backend,
      'embeddingLookup gradient (scatterND)',
      shape,
      await time(() => lookupGrad(table), repeats),
    );
  }
  tf.dispose([table, ids]);
}

const plain: Record<string, number> = {};
for (const backend of onlyThreads ? [] : (['wasm', 'cpu'] as const)) {
  const n = backend === 'wasm' ? 512 : 256;
  const repeats = backend === 'wasm' ? 5 : 3;
  await initBackend(backend, { quiet: true, fastKernels: false, wasmThreads: 1 });
  plain[backend] = await measureMatMulGflops({ size: n, repeats });
  record(
    backend,
    'tf.matMul plain (measureMatMulGflops)',
    `${n}x${n}x${n}`,
    (2 * n ** 3) / plain[backend]! / 1e6,
    2 * n ** 3,
  );
  const tokens = backend === 'wasm' ? 1024 : 256;
  const features = backend === 'wasm' ? 512 : 256;
  const linearCase = await linearForwardBackward(backend, tokens, features, repeats);
  if (backend === 'wasm') {
    await transposedMatMuls(backend, n, 2, "tfjs's kernel");
    await linearCase.naive("tfjs's kernels");
  }
  // tfjs's own gather gradient: no kernel on wasm; on cpu O(vocab · tokens · dim), so a small vocab.
  if (backend === 'wasm') await embeddingGradients(backend, 32000, 256, 2048, 1, "tfjs's kernel", false);
  else await embeddingGradients(backend, 250, 64, 512, 1, "tfjs's kernel", false);
  installFastKernels(tf.getBackend());
  await transposedMatMuls(backend, n, repeats, backend === 'wasm' ? 'fast kernels' : "tfjs's kernel");
  await linearCase.naive(backend === 'wasm' ? 'fast kernels' : "tfjs's kernels");
  await linearCase.ours();
  linearCase.dispose();
  if (backend === 'cpu') await embeddingGradients(backend, 250, 64, 512, repeats, 'fast kernel', false);
  await embeddingGradients(backend, 32000, 256, 2048, repeats, 'fast kernel', true);
}

/**
 * Cores this process had during a window: the machine's idle CPU time plus this process's own
 * CPU time, over the wall time (2.0 on a 2-core machine nobody else uses). The load average
 * lags by a minute; this says whether the other helpers left the cores free for that very round.
 */
function coresAvailableSince(start: { idle: number; own: NodeJS.CpuUsage; wall: number }): number {
  const own = process.cpuUsage(start.own);
  const wall = performance.now() - start.wall;
  return (idleMs() - start.idle + (own.user + own.system) / 1000) / wall;
}
function idleMs(): number {
  return cpus().reduce((total, cpu) => total + cpu.times.idle, 0);
}
function windowStart() {
  return { idle: idleMs(), own: process.cpuUsage(), wall: performance.now() };
}

interface ScalingRow {
  case: string;
  threads: number;
  round: number;
  uptime: string;
  /** See {@link coresAvailableSince}: measured over this case's timed runs. */
  coresAvailable: number;
  ms: number;
  gflops: number;
}
const scaling: ScalingRow[] = [];

/** The hot ops of a training step, on the running backend: [name, flops, run]. */
function scalingCases(): {
  name: string;
  flops: number;
  run: () => tf.Tensor | tf.Tensor[];
  dispose: () => void;
}[] {
  const square = (n: number, seed: number) => tf.randomNormal([n, n], 0, 1, 'float32', seed);
  const [a512, b512, a1024, b1024] = [square(512, 1), square(512, 2), square(1024, 3), square(1024, 4)];
  // Attention over batch 2 × 8 heads, 256 positions, head size 64: q·kᵀ and p·v.
  const q = tf.randomNormal([16, 256, 64], 0, 1, 'float32', 5);
  const k = tf.randomNormal([16, 256, 64], 0, 1, 'float32', 6);
  const p = tf.randomNormal([16, 256, 256], 0, 1, 'float32', 7);
  const x = tf.randomNormal([1024, 512], 0, 1, 'float32', 8);
  const w = tf.randomNormal([512, 512], 0, 0.05, 'float32', 9);
  const linearGrads = tf.grads((input: tf.Tensor, weight: tf.Tensor) => tf.sum(linear(input, weight)));
  return [
    { name: 'matMul 512³', flops: 2 * 512 ** 3, run: () => tf.matMul(a512, b512) },
    { name: 'matMul 1024³', flops: 2 * 1024 ** 3, run: () => tf.matMul(a1024, b1024) },
    {
      name: 'batched q·kᵀ [16,256,64]',
      flops: 2 * 16 * 256 * 256 * 64,
      run: () => tf.matMul(q, k, false, true),
    },
    {
      name: 'batched p·v [16,256,256]·[16,256,64]',
      flops: 2 * 16 * 256 * 256 * 64,
      run: () => tf.matMul(p, k),
    },
    {
      name: 'linear fwd+bwd x[1024,512] W[512,512]',
      flops: 3 * 2 * 1024 * 512 * 512,
      run: () => linearGrads([x, w]),
    },
  ].map((entry) => ({ ...entry, dispose: () => tf.dispose([a512, b512, a1024, b1024, q, k, p, x, w]) }));
}

for (let round = 0; round < rounds; round++) {
  const order = round % 2 === 0 ? threadCounts : [...threadCounts].reverse();
  for (const threads of order) {
    const uptime = execSync('uptime').toString().trim();
    const selection = await initBackend('wasm', { quiet: true, wasmThreads: threads });
    const cases = scalingCases();
    for (const entry of cases) {
      const window = windowStart();
      const ms = await time(entry.run, 7);
      const coresAvailable = coresAvailableSince(window);
      const gflops = entry.flops / (ms / 1000) / 1e9;
      scaling.push({
        case: entry.name,
        threads: selection.threads ?? 1,
        round,
        uptime,
        coresAvailable,
        ms,
        gflops,
      });
      console.log(
        `wasm ${String(selection.threads).padStart(2)} thread(s) round ${round} ${entry.name.padEnd(40)} ${ms.toFixed(1).padStart(8)} ms ${gflops.toFixed(2).padStart(7)} GFLOP/s  (${coresAvailable.toFixed(2)} cores available)`,
      );
    }
    cases[0]!.dispose();
    console.log(`  (${uptime})`);
  }
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)]!;
const scalingSummary = [...new Set(scaling.map((row) => row.case))].flatMap((name) =>
  threadCounts.map((threads) => {
    const own = scaling.filter((row) => row.case === name && row.threads === threads);
    const speedups = own.map((row) => {
      const single = scaling.find(
        (other) => other.case === name && other.threads === 1 && other.round === row.round,
      );
      return single ? row.gflops / single.gflops : Number.NaN;
    });
    return {
      case: name,
      threads,
      'GFLOP/s median': median(own.map((row) => row.gflops)).toFixed(2),
      'GFLOP/s range': `${Math.min(...own.map((row) => row.gflops)).toFixed(1)}–${Math.max(...own.map((row) => row.gflops)).toFixed(1)}`,
      'speed-up vs 1 (per round)': speedups.map((x) => `${x.toFixed(2)}×`).join(' '),
      'cores available': own.map((row) => row.coresAvailable.toFixed(1)).join(' '),
    };
  }),
);
console.table(scalingSummary);

const loadAfter = execSync('uptime').toString().trim();
console.log(`\nload before: ${loadBefore}\nload after:  ${loadAfter}`);
const outDir = join(process.cwd(), 'bench-results');
mkdirSync(outDir, { recursive: true });
writeFileSync(
  join(outDir, 'backend.json'),
  `${JSON.stringify({ date: new Date().toISOString(), node: process.version, loadBefore, loadAfter, plainMatMulGflops: plain, rows, scaling, scalingSummary }, null, 2)}\n`,
);
console.log(`wrote ${join('bench-results', 'backend.json')}`);
process.exit(0);
