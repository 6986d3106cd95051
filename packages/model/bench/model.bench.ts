// `pnpm bench model`: forward and training throughput of a ~10M-parameter Llama at sequence 256
// on the wasm and cpu backends, with the achieved GFLOP/s of a training step as a fraction of the
// same backend's plain matMul GFLOP/s measured in the same run (the better of before and after:
// a conservative denominator on a shared machine). wasm runs at every thread count from 1 to the
// available cores, in `--rounds` interleaved rounds (ascending, then descending order, …) so a
// change of the machine's load hits every count alike; the speed-up is taken per round against
// the 1-thread run of the same round, and the first step's loss must not depend on the threads.
//
//   node scripts/dev.mjs bench model [--backends wasm,cpu] [--threads 1,2] [--rounds 2] [--batch 2] [--steps 3]
import { execSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';

/** The machine's idle CPU time plus this process's own, over the wall time: the cores it had. */
function windowStart() {
  return { idle: idleMs(), own: process.cpuUsage(), wall: performance.now() };
}
function coresAvailableSince(start: ReturnType<typeof windowStart>): number {
  const own = process.cpuUsage(start.own);
  return (idleMs() - start.idle + (own.user + own.system) / 1000) / (performance.now() - start.wall);
}
function idleMs(): number {
  return cpus().reduce((total, cpu) => total + cpu.times.idle, 0);
}

import { join } from 'node:path';
import type * as TF from '@tensorflow/tfjs-core';
import type { CausalLM } from '../src/index.js';

// Run through `pnpm bench`, which registers scripts/tfjs-esm-hook.mjs for tfjs-core's ESM files.
const { initBackend, measureMatMulGflops } = await import('@fusechat/backend');
const tf: typeof TF = await import('@tensorflow/tfjs-core');
const { createModel } = await import('../src/index.js');

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2)
  args.set(process.argv[i]!.replace(/^--/, ''), process.argv[i + 1]!);
const backends = (args.get('backends') ?? 'wasm,cpu').split(',') as ('wasm' | 'cpu')[];
const sequence = Number(args.get('sequence') ?? 256);
const threadCounts = (
  args.get('threads') ??
  Array.from({ length: Math.min(availableParallelism(), 8) }, (_, i) => i + 1).join(',')
)
  .split(',')
  .map(Number);
const rounds = Number(args.get('rounds') ?? 2);

const config = {
  modelType: 'llama',
  vocabSize: 8000,
  hiddenSize: 256,
  intermediateSize: 688,
  numHiddenLayers: 8,
  numAttentionHeads: 8,
  numKeyValueHeads: 4,
  maxPositionEmbeddings: 2048,
} as const;

function now(): number {
  return performance.now() / 1000;
}

/** Median wall time of `runs` calls: robust to other processes on a shared machine. */
function medianSeconds(run: () => void, runs: number): number {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = now();
    run();
    times.push(now() - start);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor((times.length - 1) / 2)]!;
}

/** Plain (no transpose flags) square matMul throughput: the better of 512 and 1024. */
async function matMulGflops(): Promise<{ gflops: number; shape: string }> {
  let best = { gflops: 0, shape: '' };
  for (const size of [512, 1024]) {
    const gflops = await measureMatMulGflops({ size, repeats: 5 });
    if (gflops > best.gflops) best = { gflops, shape: `${size}³` };
  }
  return best;
}

function nextTokenLoss(logits: TF.Tensor3D, ids: TF.Tensor2D): TF.Scalar {
  const [batch, time, vocab] = logits.shape;
  const predictions = tf.reshape(tf.slice(logits, [0, 0, 0], [batch, time - 1, vocab]), [-1, vocab]);
  const targets = tf.oneHot(tf.reshape(tf.slice(ids, [0, 1], [batch, time - 1]), [-1]), vocab);
  // Fused softmax cross-entropy: its gradient is softmax − target, no autodiff through logSoftmax.
  return tf.losses.softmaxCrossEntropy(targets, predictions) as TF.Scalar;
}

function trainingFlops(model: CausalLM, tokens: number, batch: number): number {
  const { numHiddenLayers, numAttentionHeads, headDim, vocabSize, hiddenSize } = model.config;
  let parameters = 0;
  for (const variable of model.weights.values()) parameters += variable.size;
  const matMulParameters = parameters - vocabSize * hiddenSize; // the embedding lookup is not a matMul
  const attention = 2 * 2 * batch * sequence * sequence * numAttentionHeads * headDim * numHiddenLayers;
  return 6 * matMulParameters * tokens + 3 * attention;
}

interface Row {
  backend: string;
  threads: number;
  round: number;
  /** `uptime` just before this configuration ran. */
  uptime: string;
  /** Cores this process had while the training steps were timed (idle + own CPU time / wall time). */
  coresAvailable: number;
  firstLoss: number;
  batch: number;
  parameters: number;
  forwardTokensPerSecond: number;
  trainingTokensPerSecond: number;
  trainingGflops: number;
  matMulGflops: number;
  matMulShape: string;
  fractionOfMatMul: number;
}

const rows: Row[] = [];
const loadBefore = loadavg()[0]!;
const configurations: { backend: 'wasm' | 'cpu'; threads: number }[] = backends.flatMap((backend) =>
  backend === 'wasm' ? threadCounts.map((threads) => ({ backend, threads })) : [{ backend, threads: 1 }],
);
for (let round = 0; round < rounds; round++) {
  const order = round % 2 === 0 ? configurations : [...configurations].reverse();
  for (const { backend, threads } of order) {
    if (backend === 'cpu' && round > 0) continue; // minutes per step, and single-threaded anyway
    rows.push(await measure(backend, threads, round));
  }
}

async function measure(backend: 'wasm' | 'cpu', threads: number, round: number): Promise<Row> {
  const uptime = execSync('uptime').toString().trim();
  const selection = await initBackend(backend, {
    quiet: true,
    ...(backend === 'wasm' ? { wasmThreads: threads } : {}),
  });
  const batch = Number(args.get('batch') ?? (backend === 'cpu' ? 1 : 2));
  const steps = Number(args.get('steps') ?? (backend === 'cpu' ? 1 : 5));
  const matMul = await matMulGflops();
  const model = createModel(config, { seed: 1 });
  let parameters = 0;
  for (const variable of model.weights.values()) parameters += variable.size;
  const idsArray = Array.from({ length: batch }, (_, b) =>
    Array.from({ length: sequence }, (_, t) => (b * 7919 + t * 104729) % 8000),
  );
  const ids = tf.tensor2d(idsArray, [batch, sequence], 'int32');
  const tokens = batch * sequence;

  const forwardOnce = () => tf.tidy(() => tf.sum(model.forward(ids)).dataSync());
  forwardOnce();
  const forwardSeconds = medianSeconds(forwardOnce, steps);

  const optimizer = tf.train.adam(1e-4);
  let lastLoss = Number.NaN;
  const trainOnce = () => {
    const loss = optimizer.minimize(
      () => nextTokenLoss(model.forward(ids, { training: true }), ids),
      true,
      model.trainableVariables(),
    );
    lastLoss = loss!.dataSync()[0]!;
    loss!.dispose();
  };
  trainOnce();
  const firstLoss = lastLoss;
  const tensors = tf.memory().numTensors;
  const window = windowStart();
  const trainSeconds = medianSeconds(trainOnce, steps);
  const coresAvailable = coresAvailableSince(window);
  if (tf.memory().numTensors !== tensors)
    console.warn(`warning: tensor count changed during training (${tensors} → ${tf.memory().numTensors})`);
  const trainingGflops = trainingFlops(model, tokens, batch) / trainSeconds / 1e9;
  // Measured again after the model ran: the machine's load changes during the run.
  const matMulAfter = await matMulGflops();
  optimizer.dispose();
  ids.dispose();
  model.dispose();
  const row: Row = {
    backend,
    threads: selection.threads ?? 1,
    round,
    uptime,
    coresAvailable,
    firstLoss,
    batch,
    parameters,
    forwardTokensPerSecond: tokens / forwardSeconds,
    trainingTokensPerSecond: tokens / trainSeconds,
    trainingGflops,
    matMulGflops: Math.max(matMul.gflops, matMulAfter.gflops),
    matMulShape: matMul.gflops >= matMulAfter.gflops ? matMul.shape : matMulAfter.shape,
    fractionOfMatMul: trainingGflops / Math.max(matMul.gflops, matMulAfter.gflops),
  };
  console.log(
    `${backend} ${row.threads} thread(s), round ${round}: train ${row.trainingTokensPerSecond.toFixed(0)} tok/s, forward ${row.forwardTokensPerSecond.toFixed(0)} tok/s, matMul ${row.matMulGflops.toFixed(1)} GFLOP/s, first loss ${firstLoss}, ${coresAvailable.toFixed(2)} cores available (${uptime})`,
  );
  return row;
}

const load = { before: loadBefore, after: loadavg()[0]! };
console.log(
  `llama ${((rows[0]?.parameters ?? 0) / 1e6).toFixed(1)}M parameters, sequence ${sequence}; 1-minute load average ${load.before.toFixed(2)} → ${load.after.toFixed(2)} on ${cpus().length} cores`,
);
console.table(
  rows.map((row) => ({
    backend: row.backend,
    threads: row.threads,
    round: row.round,
    cores: row.coresAvailable.toFixed(2),
    batch: row.batch,
    'forward tok/s': row.forwardTokensPerSecond.toFixed(0),
    'train tok/s': row.trainingTokensPerSecond.toFixed(0),
    'train GFLOP/s': row.trainingGflops.toFixed(2),
    'matMul GFLOP/s': `${row.matMulGflops.toFixed(2)} (${row.matMulShape})`,
    'train / matMul': `${(100 * row.fractionOfMatMul).toFixed(0)}%`,
  })),
);
// Speed-up of each wasm thread count over 1 thread in the same round (paired: the load moves).
const speedups: Record<string, { trainTokensPerSecond: number[]; matMul: number[] }> = {};
for (const row of rows) {
  const single = rows.find(
    (other) => other.backend === 'wasm' && other.threads === 1 && other.round === row.round,
  );
  if (row.backend !== 'wasm' || row.threads === 1 || !single) continue;
  const key = `${row.threads} threads`;
  speedups[key] ??= { trainTokensPerSecond: [], matMul: [] };
  const entry = speedups[key];
  entry.trainTokensPerSecond.push(row.trainingTokensPerSecond / single.trainingTokensPerSecond);
  entry.matMul.push(row.matMulGflops / single.matMulGflops);
}
for (const [threads, entry] of Object.entries(speedups))
  console.log(
    `wasm ${threads} vs 1: training step ${entry.trainTokensPerSecond.map((x) => `${x.toFixed(2)}×`).join(', ')}; plain matMul ${entry.matMul.map((x) => `${x.toFixed(2)}×`).join(', ')}`,
  );
const lossesByThreads = new Set(rows.filter((row) => row.backend === 'wasm').map((row) => row.firstLoss));
console.log(
  lossesByThreads.size <= 1
    ? `first-step loss identical at every thread count (${[...lossesByThreads].join('')})`
    : `warning: first-step loss differs between thread counts: ${[...lossesByThreads].join(', ')}`,
);
const out = join(process.cwd(), 'bench-results');
mkdirSync(out, { recursive: true });
writeFileSync(
  join(out, 'model.json'),
  `${JSON.stringify({ date: new Date().toISOString(), loadAverage: load, cores: cpus().length, sequence, config, rows, speedups }, null, 2)}\n`,
);
console.log(`wrote ${join('bench-results', 'model.json')}`);
