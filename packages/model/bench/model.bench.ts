// `pnpm bench model`: forward and training throughput of a ~10M-parameter Llama at sequence 256
// on the wasm and cpu backends, with the achieved GFLOP/s of a training step as a fraction of the
// same backend's plain matMul GFLOP/s measured in the same run (the better of before and after:
// a conservative denominator on a shared machine).
//
//   node scripts/dev.mjs bench model [--backends wasm,cpu] [--batch 2] [--steps 3]
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
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
for (const backend of backends) {
  await initBackend(backend, { quiet: true });
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
  const trainOnce = () => {
    const loss = optimizer.minimize(
      () => nextTokenLoss(model.forward(ids, { training: true }), ids),
      true,
      model.trainableVariables(),
    );
    loss!.dataSync();
    loss!.dispose();
  };
  trainOnce();
  const tensors = tf.memory().numTensors;
  const trainSeconds = medianSeconds(trainOnce, steps);
  if (tf.memory().numTensors !== tensors)
    console.warn(`warning: tensor count changed during training (${tensors} → ${tf.memory().numTensors})`);
  const trainingGflops = trainingFlops(model, tokens, batch) / trainSeconds / 1e9;
  // Measured again after the model ran: the machine's load changes during the run.
  const matMulAfter = await matMulGflops();
  rows.push({
    backend,
    batch,
    parameters,
    forwardTokensPerSecond: tokens / forwardSeconds,
    trainingTokensPerSecond: tokens / trainSeconds,
    trainingGflops,
    matMulGflops: Math.max(matMul.gflops, matMulAfter.gflops),
    matMulShape: matMul.gflops >= matMulAfter.gflops ? matMul.shape : matMulAfter.shape,
    fractionOfMatMul: trainingGflops / Math.max(matMul.gflops, matMulAfter.gflops),
  });
  optimizer.dispose();
  ids.dispose();
  model.dispose();
}

const load = { before: loadBefore, after: loadavg()[0]! };
console.log(
  `llama ${((rows[0]?.parameters ?? 0) / 1e6).toFixed(1)}M parameters, sequence ${sequence}; 1-minute load average ${load.before.toFixed(2)} → ${load.after.toFixed(2)} on ${cpus().length} cores`,
);
console.table(
  rows.map((row) => ({
    backend: row.backend,
    batch: row.batch,
    'forward tok/s': row.forwardTokensPerSecond.toFixed(0),
    'train tok/s': row.trainingTokensPerSecond.toFixed(0),
    'train GFLOP/s': row.trainingGflops.toFixed(2),
    'matMul GFLOP/s': `${row.matMulGflops.toFixed(2)} (${row.matMulShape})`,
    'train / matMul': `${(100 * row.fractionOfMatMul).toFixed(0)}%`,
  })),
);
const out = join(process.cwd(), 'bench-results');
mkdirSync(out, { recursive: true });
writeFileSync(
  join(out, 'model.json'),
  `${JSON.stringify({ date: new Date().toISOString(), loadAverage: load, cores: cpus().length, sequence, config, rows }, null, 2)}\n`,
);
console.log(`wrote ${join('bench-results', 'model.json')}`);
