// `pnpm bench data-parallel`: tokens/s of one full optimizer step of the training loop (forward,
// loss, backward, global norm, clipping, AdamW) on the model bench's ~10M-parameter Llama at
// sequence 256 (fused targets, k = 10), in three ways of using the cores:
//   serial   — one replica, wasm at 1 thread (the baseline);
//   threads  — one replica, wasm at N threads (XNNPACK's own thread pool);
//   replicas — N data-parallel replicas (`train({ workers: N })`'s GradientWorkerPool), 1 thread each.
// In `--rounds` interleaved rounds (forward, then reverse order) so a change of the machine's load
// hits every configuration alike; the speed-up is per round against that round's serial run. The
// first step's loss and gradient norm must agree between configurations to float32 rounding.
//
//   node scripts/dev.mjs bench data-parallel [--batch 2,8] [--workers 2] [--rounds 2] [--steps 5]
import { execSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '@fusechat/backend';
import { createModel } from '@fusechat/model';
import * as tf from '@tensorflow/tfjs-core';
import { createAdamW } from '../src/optimizer/create-adamw.js';
import { GradientWorkerPool } from '../src/parallel/gradient-worker-pool.js';
import {
  type AccumulatedGradients,
  accumulateGradients,
  clipGradients,
  globalNorm,
} from '../src/trainer/accumulate-gradients.js';
import type { TrainingBatch } from '../src/training-batch.js';
import { syntheticBatch } from './synthetic-batch.js';

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2)
  args.set(process.argv[i]!.replace(/^--/, ''), process.argv[i + 1]!);
const batchSizes = (args.get('batch') ?? '2,8').split(',').map(Number);
const workers = Number(args.get('workers') ?? Math.min(availableParallelism(), 8));
const rounds = Number(args.get('rounds') ?? 2);
const steps = Number(args.get('steps') ?? 5);
const TIME = 256;
const K = 10;
const CONFIG = {
  modelType: 'llama',
  vocabSize: 8000,
  hiddenSize: 256,
  intermediateSize: 688,
  numHiddenLayers: 8,
  numAttentionHeads: 8,
  numKeyValueHeads: 4,
  maxPositionEmbeddings: 2048,
} as const;

/** `rows` full rows of 256 tokens, the first 32 a prompt, with k = 10 fused targets. */
function makeBatch(rows: number): TrainingBatch {
  return syntheticBatch({ rows, time: TIME, prompt: 32, vocabSize: CONFIG.vocabSize, k: K });
}

type Mode = 'serial' | 'threads' | 'replicas';
interface Row {
  mode: Mode;
  batch: number;
  round: number;
  threads: number;
  replicas: number;
  tokensPerSecond: number;
  stepMs: number;
  firstLoss: number;
  firstGradNorm: number;
  uptime: string;
}

async function measure(mode: Mode, rows: number, round: number): Promise<Row> {
  const uptime = execSync('uptime').toString().trim();
  const threads = mode === 'threads' ? workers : 1;
  await initBackend('wasm', { quiet: true, wasmThreads: threads });
  const model = createModel(CONFIG, { seed: 1 });
  const variables = model.namedTrainableVariables();
  const optimizer = createAdamW(variables, { weightDecay: 0.01 });
  const settings = { lmLossWeight: 0.9, distillLossType: 'ce' as const };
  const batch = makeBatch(rows);
  const pool = mode === 'replicas' ? await GradientWorkerPool.start(model, settings, { workers }) : undefined;
  let first: { loss: number; norm: number } | undefined;
  const step = async () => {
    const accumulated: AccumulatedGradients = pool
      ? await pool.accumulate([batch])
      : accumulateGradients(model, variables, [batch], settings);
    try {
      const norm = globalNorm(accumulated.gradients);
      first ??= { loss: accumulated.loss, norm };
      clipGradients(accumulated.gradients, norm, 1);
      optimizer.step(accumulated.gradients, 1e-4);
    } finally {
      tf.dispose([...accumulated.gradients.values()]);
    }
    variables.values().next().value!.dataSync();
  };
  try {
    await step();
    const times: number[] = [];
    for (let i = 0; i < steps; i++) {
      const started = performance.now();
      await step();
      times.push(performance.now() - started);
    }
    times.sort((a, b) => a - b);
    const stepMs = times[Math.floor((times.length - 1) / 2)]!;
    const row: Row = {
      mode,
      batch: rows,
      round,
      threads,
      replicas: pool?.replicas ?? 1,
      tokensPerSecond: (rows * TIME) / (stepMs / 1000),
      stepMs,
      firstLoss: first!.loss,
      firstGradNorm: first!.norm,
      uptime,
    };
    console.log(
      `batch ${rows}, ${mode} (${row.replicas} replica(s) × ${threads} thread(s)), round ${round}: ${row.tokensPerSecond.toFixed(0)} tok/s, step ${stepMs.toFixed(0)} ms, first loss ${row.firstLoss.toFixed(6)}, grad norm ${row.firstGradNorm.toFixed(6)} (${uptime})`,
    );
    return row;
  } finally {
    await pool?.close();
    optimizer.dispose();
    model.dispose();
  }
}

const loadBefore = loadavg()[0]!;
const results: Row[] = [];
const modes: Mode[] = ['serial', 'threads', 'replicas'];
for (let round = 0; round < rounds; round++) {
  const order = round % 2 === 0 ? modes : [...modes].reverse();
  for (const rows of batchSizes) for (const mode of order) results.push(await measure(mode, rows, round));
}
console.log(
  `llama ~10M parameters, sequence ${TIME}, ${workers} threads/replicas; 1-minute load ${loadBefore.toFixed(2)} → ${loadavg()[0]!.toFixed(2)} on ${cpus().length} cores (${cpus()[0]?.model})`,
);
console.table(
  results.map((row) => ({
    batch: row.batch,
    mode: row.mode,
    round: row.round,
    'replicas × threads': `${row.replicas} × ${row.threads}`,
    'tok/s': row.tokensPerSecond.toFixed(0),
    'step ms': row.stepMs.toFixed(0),
  })),
);
const speedups: Record<string, number[]> = {};
for (const row of results) {
  if (row.mode === 'serial') continue;
  const serial = results.find(
    (other) => other.mode === 'serial' && other.batch === row.batch && other.round === row.round,
  )!;
  const key = `batch ${row.batch}, ${row.mode}`;
  speedups[key] = [...(speedups[key] ?? []), row.tokensPerSecond / serial.tokensPerSecond];
  const relative = Math.abs(row.firstLoss - serial.firstLoss) / Math.abs(serial.firstLoss);
  if (relative > 1e-5)
    console.warn(`warning: batch ${row.batch} ${row.mode}: first loss differs by ${relative} (relative)`);
}
for (const [key, values] of Object.entries(speedups))
  console.log(`${key} vs serial: ${values.map((value) => `${value.toFixed(2)}×`).join(', ')}`);
const out = join(process.cwd(), 'bench-results');
mkdirSync(out, { recursive: true });
writeFileSync(
  join(out, 'data-parallel.json'),
  `${JSON.stringify({ date: new Date().toISOString(), cores: cpus().length, workers, config: CONFIG, results, speedups }, null, 2)}\n`,
);
console.log(`wrote ${join('bench-results', 'data-parallel.json')}`);
