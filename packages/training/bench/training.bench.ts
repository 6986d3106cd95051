// `pnpm bench training`: one full optimizer step of the loop (forward, loss, backward, global
// norm, clipping, AdamW) on a small Llama, with the FuseChat objective (combinedLoss over k = 10
// fused targets) vs plain CLM on the same model and batch, interleaved so machine load hits both
// alike (median of the repetitions). Achieved GFLOP/s of the step (matMul FLOPs of forward +
// backward, 3× the forward's) against the same process's plain square matMul GFLOP/s
// (measureMatMulGflops). Then 200 steps with the tensor count and RSS sampled: both must stay
// flat. Writes bench-results/training.json. Flags: `--backend cpu|wasm` (default wasm), `--quick`.
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { measureMatMulGflops, registerCoreGradients } from '@fusechat/backend';
import { createModel } from '@fusechat/model';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { createAdamW } from '../src/optimizer/create-adamw.js';
import { accumulateGradients, clipGradients, globalNorm } from '../src/trainer/accumulate-gradients.js';
import type { TrainingBatch } from '../src/training-batch.js';
import { syntheticBatch } from './synthetic-batch.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..', '..');
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const backend = args.includes('--backend') ? args[args.indexOf('--backend') + 1]! : 'wasm';

const CONFIG = {
  modelType: 'llama',
  vocabSize: 2048,
  hiddenSize: 128,
  intermediateSize: 352,
  numHiddenLayers: 2,
  numAttentionHeads: 4,
  numKeyValueHeads: 2,
  initializerRange: 0.05,
} as const;
const BATCH = 4;
const TIME = 64;
const K = 10;

/** A full batch: 4 rows of 64 tokens, the first 16 of each a prompt; fused targets for the fusion step. */
function makeBatch(withTargets: boolean): TrainingBatch {
  return syntheticBatch({
    rows: BATCH,
    time: TIME,
    prompt: 16,
    vocabSize: CONFIG.vocabSize,
    k: withTargets ? K : 0,
  });
}

/** matMul FLOPs of one forward pass (projections, attention scores and values, lm_head). */
function forwardFlops(): number {
  const { hiddenSize: h, intermediateSize: m, numHiddenLayers: layers, vocabSize: v } = CONFIG;
  const headDim = h / CONFIG.numAttentionHeads;
  const kv = CONFIG.numKeyValueHeads * headDim;
  const tokens = BATCH * TIME;
  const projections = h * h + 2 * h * kv + h * h + 3 * h * m;
  const attention = 2 * TIME * h; // QKᵀ and AV per token (full T × T, as the kernels compute it)
  return 2 * tokens * (layers * (projections + attention) + h * v);
}

async function main() {
  const require = createRequire(import.meta.url);
  setWasmPaths(`${join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist')}/`);
  registerCoreGradients();
  if (!(await tf.setBackend(backend))) throw new Error(`backend ${backend} unavailable`);
  await tf.ready();
  const model = createModel(CONFIG, { seed: 1 });
  const variables = model.namedTrainableVariables();
  const optimizer = createAdamW(variables, { weightDecay: 0.01 });
  const batches = { clm: makeBatch(false), fusion: makeBatch(true) };
  const settings = { lmLossWeight: 0.9, distillLossType: 'ce' as const };
  const step = (kind: 'clm' | 'fusion') => {
    const accumulated = accumulateGradients(model, variables, [batches[kind]], settings);
    try {
      const norm = globalNorm(accumulated.gradients);
      clipGradients(accumulated.gradients, norm, 1);
      optimizer.step(accumulated.gradients, 1e-4);
    } finally {
      tf.dispose([...accumulated.gradients.values()]);
    }
  };
  const timed = (kind: 'clm' | 'fusion') => {
    (globalThis as { gc?: () => void }).gc?.();
    const started = performance.now();
    step(kind);
    // Wait for the device: the parameters' last update must be done.
    variables.values().next().value!.dataSync();
    return performance.now() - started;
  };

  const matMulGflops = await measureMatMulGflops({ size: 512, repeats: quick ? 3 : 7 });
  for (let i = 0; i < 2; i++) {
    timed('clm');
    timed('fusion');
  }
  const repetitions = quick ? 4 : 15;
  const times = { clm: [] as number[], fusion: [] as number[] };
  for (let i = 0; i < repetitions; i++) {
    times.clm.push(timed('clm'));
    times.fusion.push(timed('fusion'));
  }
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  const clmMs = median(times.clm);
  const fusionMs = median(times.fusion);
  const flops = 3 * forwardFlops();
  const tokens = BATCH * TIME;

  const longSteps = quick ? 40 : 200;
  const samples: { step: number; tensors: number; rssMiB: number }[] = [];
  for (let i = 1; i <= longSteps; i++) {
    step(i % 2 === 0 ? 'fusion' : 'clm');
    if (i % (longSteps / 10) === 0) {
      (globalThis as { gc?: () => void }).gc?.();
      samples.push({ step: i, tensors: tf.memory().numTensors, rssMiB: process.memoryUsage().rss / 2 ** 20 });
    }
  }
  const result = {
    machine: { backend, cpus: cpus().length, cpu: cpus()[0]?.model, node: process.version },
    model: { ...CONFIG, parameters: [...model.weights.values()].reduce((sum, w) => sum + w.size, 0) },
    batch: { rows: BATCH, time: TIME, tokens, k: K },
    step: {
      clmMs,
      fusionMs,
      fusionOverClm: fusionMs / clmMs,
      clmTokensPerSecond: tokens / (clmMs / 1000),
      fusionTokensPerSecond: tokens / (fusionMs / 1000),
    },
    gflops: {
      matMul: matMulGflops,
      clmStep: flops / (clmMs / 1000) / 1e9,
      fusionStep: flops / (fusionMs / 1000) / 1e9,
      clmShareOfMatMul: flops / (clmMs / 1000) / 1e9 / matMulGflops,
    },
    stability: {
      steps: longSteps,
      tensorsFlat: new Set(samples.map((sample) => sample.tensors)).size === 1,
      rssGrowthMiB: samples.at(-1)!.rssMiB - samples[0]!.rssMiB,
      samples,
    },
  };
  console.log(JSON.stringify(result, null, 2));
  console.log(
    `${backend}: CLM step ${clmMs.toFixed(1)} ms (${result.step.clmTokensPerSecond.toFixed(0)} tok/s), fusion step ${fusionMs.toFixed(1)} ms → fusion/CLM ${result.step.fusionOverClm.toFixed(3)}× (goal ≤ 1.15×); step ${result.gflops.clmStep.toFixed(2)} GFLOP/s vs matMul ${matMulGflops.toFixed(2)} → ${(100 * result.gflops.clmShareOfMatMul).toFixed(0)}% (goal ≥ 50%); tensors flat over ${longSteps} steps: ${result.stability.tensorsFlat}, RSS growth ${result.stability.rssGrowthMiB.toFixed(1)} MiB`,
  );
  if (!quick) {
    mkdirSync(join(root, 'bench-results'), { recursive: true });
    writeFileSync(
      join(root, 'bench-results', `training-${backend}.json`),
      `${JSON.stringify(result, null, 2)}\n`,
    );
  }
  optimizer.dispose();
  model.dispose();
}

await main();
