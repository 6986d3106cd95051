// `pnpm bench loss`: time of loss + gradient w.r.t. the student logits, per supervised token, for
// vocabularies of 32k (Llama-2) and 151,936 (Qwen2), k = 10 fused target entries per position.
// Baselines on the same logits:
// - `dense-ce`: tfjs's own dense CLM cross-entropy, `tf.losses.softmaxCrossEntropy(tf.oneHot(
//   labels, V), logits)` + gradient (unreduced, dy = 1/N, so no gradient registration is needed);
// - `clm`: this package's sparse CLM loss, so `×clm` is what the fusion term adds to plain SFT.
// Timing: all four methods interleaved in one process (so machine load hits them alike);
// min and median of the repetitions. Memory: one fresh process per method, reporting the tfjs
// peak beyond the logits (`tf.profile`; tfjs counts every reshaped/cloned view as its own bytes,
// so this over-counts shared buffers) and the process's peak RSS (ground truth, includes the
// logits and their JS source array). Writes bench-results/loss.json. `--quick`: smoke run.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { clmLoss, combinedLoss, fusionLoss } from '../src/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..', '..');
const K = 10;
const BATCH = 4;
const METHODS = ['dense-ce', 'clm', 'fusion', 'combined'] as const;
type Method = (typeof METHODS)[number];

interface Timing {
  readonly method: Method;
  readonly minMs: number;
  readonly medianMs: number;
  readonly tensorsStable: boolean;
}

interface Memory {
  readonly peakExtraBytes: number;
  readonly maxRssBytes: number;
}

/** Cheap deterministic uniform fill in ±scale (xorshift32), or integers in [0, scale). */
function fill(out: Float32Array | Int32Array, seed: number, scale: number, integer = false): void {
  let state = seed >>> 0 || 1;
  for (let i = 0; i < out.length; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    const uniform = (state >>> 0) / 4294967296;
    out[i] = integer ? Math.floor(uniform * scale) : (uniform - 0.5) * 2 * scale;
  }
}

/** Sets up the backend and the inputs; returns one training-like step per method. */
async function setUp(backend: string, vocab: number, positions: number): Promise<Record<Method, () => void>> {
  // Backends are imported directly: @fusechat/backend's gradient registration needs a resolve hook
  // when run from sources under plain Node, and none of these losses uses registered gradients.
  const require = createRequire(import.meta.url);
  setWasmPaths(`${join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist')}/`);
  if (!(await tf.setBackend(backend))) throw new Error(`backend ${backend} unavailable`);
  await tf.ready();
  const time = positions / BATCH;
  const logitsData = new Float32Array(positions * vocab);
  fill(logitsData, 1, 8);
  const logits = tf.tensor3d(logitsData, [BATCH, time, vocab]);
  const labelData = new Int32Array(positions);
  fill(labelData, 2, vocab, true);
  const labels = tf.tensor2d(labelData, [BATCH, time], 'int32');
  const targetIdData = new Int32Array(positions * K);
  fill(targetIdData, 3, vocab, true);
  const targetIds = tf.tensor3d(targetIdData, [BATCH, time, K], 'int32');
  const targetLogitData = new Float32Array(positions * K);
  fill(targetLogitData, 4, 5);
  const targetLogits = tf.tensor3d(targetLogitData, [BATCH, time, K]);
  const oneHotLabels = tf.oneHot(tf.reshape(labels, [positions]), vocab);
  const labelMask = tf.ones([BATCH, time], 'int32');
  const logits2d = tf.reshape(logits, [positions, vocab]);
  const inverseCount = tf.fill([positions], 1 / positions);

  const run = (loss: (z: tf.Tensor) => tf.Tensor, input: tf.Tensor, dy?: tf.Tensor) => () => {
    const { value, grad } = tf.valueAndGrad(loss)(input, dy);
    value.dataSync();
    tf.dispose([value, grad]);
  };
  return {
    // Per-row losses with dy = 1/N: the gradient of their mean. The one-hot labels are built
    // once, outside the timed step (as a data pipeline would).
    'dense-ce': run(
      (z) => tf.losses.softmaxCrossEntropy(oneHotLabels, z, undefined, 0, tf.Reduction.NONE),
      logits2d,
      inverseCount,
    ),
    clm: run((z) => clmLoss(z, labels), logits),
    fusion: run((z) => fusionLoss(z, targetIds, targetLogits, labelMask), logits),
    combined: run((z) => combinedLoss(z, { labels, targetIds, targetLogits }), logits),
  };
}

async function timingChild(backend: string, vocab: number, positions: number, repetitions: number) {
  const steps = await setUp(backend, vocab, positions);
  const times = Object.fromEntries(METHODS.map((method) => [method, [] as number[]])) as Record<
    Method,
    number[]
  >;
  for (const method of METHODS) steps[method](); // warm-up
  const tensorsBefore = tf.memory().numTensors;
  for (let repetition = 0; repetition < repetitions; repetition++) {
    for (const method of METHODS) {
      // Collect the previous method's garbage outside the timed region (--expose-gc).
      (globalThis as { gc?: () => void }).gc?.();
      const started = performance.now();
      steps[method]();
      times[method].push(performance.now() - started);
    }
  }
  const tensorsStable = tf.memory().numTensors === tensorsBefore;
  const timings: Timing[] = METHODS.map((method) => {
    const sorted = times[method].sort((a, b) => a - b);
    return { method, minMs: sorted[0]!, medianMs: sorted[Math.floor(sorted.length / 2)]!, tensorsStable };
  });
  process.stdout.write(`${JSON.stringify(timings)}\n`);
}

async function memoryChild(backend: string, vocab: number, positions: number, method: Method) {
  const steps = await setUp(backend, vocab, positions);
  steps[method]();
  const bytesBefore = tf.memory().numBytes;
  const profile = await tf.profile(steps[method]);
  const memory: Memory = {
    peakExtraBytes: profile.peakBytes - bytesBefore,
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
  };
  process.stdout.write(`${JSON.stringify(memory)}\n`);
}

function runChild(args: string[]): unknown {
  const output = execFileSync(
    process.execPath,
    [
      '--conditions=source',
      '--expose-gc',
      '--import',
      'tsx',
      fileURLToPath(import.meta.url),
      '--child',
      ...args,
    ],
    { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 20 },
  );
  return JSON.parse(output.trim().split('\n').at(-1)!);
}

const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MB`;

async function main() {
  const quick = process.argv.includes('--quick');
  const configurations: { backend: string; vocab: number; positions: number; repetitions: number }[] = quick
    ? [
        { backend: 'wasm', vocab: 32000, positions: 256, repetitions: 3 },
        { backend: 'cpu', vocab: 32000, positions: 256, repetitions: 2 },
      ]
    : [
        { backend: 'wasm', vocab: 32000, positions: 256, repetitions: 7 },
        { backend: 'wasm', vocab: 32000, positions: 512, repetitions: 5 },
        { backend: 'wasm', vocab: 151936, positions: 256, repetitions: 5 },
        { backend: 'wasm', vocab: 151936, positions: 512, repetitions: 3 },
        { backend: 'cpu', vocab: 32000, positions: 256, repetitions: 3 },
        { backend: 'cpu', vocab: 151936, positions: 256, repetitions: 2 },
      ];
  const loadBefore = loadavg();
  const results: Record<string, unknown>[] = [];
  console.log(
    `cores: ${cpus().length}, load average before: ${loadBefore.map((x) => x.toFixed(2)).join(' ')}`,
  );
  console.log(
    'backend  vocab   pos  method     min ms  median ms  µs/token  ×dense  ×clm  tfjs peak extra (×logits)  max RSS',
  );
  for (const { backend, vocab, positions, repetitions } of configurations) {
    const timings = runChild([
      'timing',
      backend,
      String(vocab),
      String(positions),
      String(repetitions),
    ]) as Timing[];
    const byMethod = Object.fromEntries(timings.map((timing) => [timing.method, timing])) as Record<
      Method,
      Timing
    >;
    // Our losses skip the last position of each row (it predicts nothing); the dense one does not.
    const perToken = (timing: Timing) =>
      (timing.minMs * 1000) / (timing.method === 'dense-ce' ? positions : positions - BATCH);
    for (const timing of timings) {
      const memory = runChild(['memory', backend, String(vocab), String(positions), timing.method]) as Memory;
      const ratioToDense = perToken(timing) / perToken(byMethod['dense-ce']);
      const ratioToClm = perToken(timing) / perToken(byMethod.clm);
      const logitsBytes = positions * vocab * 4;
      results.push({
        backend,
        vocab,
        positions,
        k: K,
        repetitions,
        ...timing,
        microsecondsPerToken: perToken(timing),
        ratioToDense,
        ratioToClm,
        ...memory,
        logitsBytes,
      });
      console.log(
        [
          backend.padEnd(7),
          String(vocab).padStart(6),
          String(positions).padStart(5),
          ` ${timing.method.padEnd(9)}`,
          timing.minMs.toFixed(0).padStart(7),
          timing.medianMs.toFixed(0).padStart(10),
          perToken(timing).toFixed(0).padStart(9),
          ratioToDense.toFixed(2).padStart(7),
          ratioToClm.toFixed(2).padStart(5),
          `${mb(memory.peakExtraBytes)} (${(memory.peakExtraBytes / logitsBytes).toFixed(1)})`.padStart(26),
          mb(memory.maxRssBytes).padStart(8),
          timing.tensorsStable ? '' : ' tensors GROWING',
        ].join(' '),
      );
    }
  }
  const loadAfter = loadavg();
  console.log(`load average after: ${loadAfter.map((x) => x.toFixed(2)).join(' ')}`);
  console.log('ratios use the min time per token; max RSS includes the logits and their JS source array');
  mkdirSync(join(root, 'bench-results'), { recursive: true });
  writeFileSync(
    join(root, 'bench-results', 'loss.json'),
    `${JSON.stringify(
      {
        benchmark: 'loss',
        date: new Date().toISOString(),
        node: process.version,
        cores: cpus().length,
        loadAverageBefore: loadBefore,
        loadAverageAfter: loadAfter,
        k: K,
        baseline: 'dense-ce = tf.losses.softmaxCrossEntropy(tf.oneHot(labels, V), logits) + gradient',
        results,
      },
      null,
      2,
    )}\n`,
  );
  console.log('wrote bench-results/loss.json');
}

if (process.argv[2] === '--child') {
  const [, , , mode, backend, vocab, positions, last] = process.argv;
  if (mode === 'timing') await timingChild(backend!, Number(vocab), Number(positions), Number(last));
  else await memoryChild(backend!, Number(vocab), Number(positions), last as Method);
} else {
  await main();
}
