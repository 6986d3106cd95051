// `pnpm bench loss`: time of loss + gradient w.r.t. the student logits, per supervised token, for
// vocabularies of 32k (Llama-2) and 151,936 (Qwen2), k = 10 fused target entries per position,
// as a ratio to a plain dense CLM cross-entropy + gradient on the same logits
// (`tf.losses.softmaxCrossEntropy(tf.oneHot(labels, V), logits)`, tfjs's own formulation; its
// unreduced form with dy = 1/N, so no gradient registration is needed under plain Node). Peak tfjs memory (`tf.profile` peak minus the bytes
// held before the step, i.e. beyond the logits themselves) and the child's peak RSS are reported
// per method: every (backend, vocab, positions, method) runs in a fresh child process.
// Writes bench-results/loss.json. Options: `--quick` (fewer configurations, for a smoke run).
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
const METHODS = ['dense-ce', 'clm', 'fusion', 'combined'] as const;
type Method = (typeof METHODS)[number];

interface ChildResult {
  readonly backend: string;
  readonly vocab: number;
  readonly positions: number;
  readonly method: Method;
  readonly repetitions: number;
  readonly medianMs: number;
  readonly minMs: number;
  readonly microsecondsPerToken: number;
  readonly peakExtraBytes: number;
  readonly logitsBytes: number;
  readonly rssBeforeBytes: number;
  readonly maxRssBytes: number;
  readonly tensorsStable: boolean;
}

/** Cheap deterministic uniform fill in ±scale (xorshift32). */
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

async function child(
  backend: 'wasm' | 'cpu',
  vocab: number,
  positions: number,
  method: Method,
  repetitions: number,
) {
  // Backends are imported directly: @fusechat/backend's gradient registration needs a resolve hook
  // when run from sources under plain Node, and none of these losses uses registered gradients.
  const require = createRequire(import.meta.url);
  setWasmPaths(`${join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist')}/`);
  if (!(await tf.setBackend(backend))) throw new Error(`backend ${backend} unavailable`);
  await tf.ready();
  const batch = 4;
  const time = positions / batch;
  const logitsData = new Float32Array(positions * vocab);
  fill(logitsData, 1, 8);
  const logits = tf.tensor3d(logitsData, [batch, time, vocab]);
  const labelData = new Int32Array(positions);
  fill(labelData, 2, vocab, true);
  const labels = tf.tensor2d(labelData, [batch, time], 'int32');
  const targetIdData = new Int32Array(positions * K);
  fill(targetIdData, 3, vocab, true);
  const targetIds = tf.tensor3d(targetIdData, [batch, time, K], 'int32');
  const targetLogitData = new Float32Array(positions * K);
  fill(targetLogitData, 4, 5);
  const targetLogits = tf.tensor3d(targetLogitData, [batch, time, K]);
  const flatLabels = tf.reshape(labels, [positions]);
  const labelMask = tf.ones([batch, time], 'int32');
  const batchInput = { labels, targetIds, targetLogits };

  const inverseCount = tf.fill([positions], 1 / positions);
  const loss = (z: tf.Tensor): tf.Tensor => {
    switch (method) {
      case 'dense-ce':
        return tf.losses.softmaxCrossEntropy(
          tf.oneHot(flatLabels, vocab),
          z,
          undefined,
          0,
          tf.Reduction.NONE,
        );
      case 'clm':
        return clmLoss(z, labels);
      case 'fusion':
        return fusionLoss(z, targetIds, targetLogits, labelMask);
      case 'combined':
        return combinedLoss(z, batchInput);
    }
  };
  const input = method === 'dense-ce' ? tf.reshape(logits, [positions, vocab]) : logits;
  // Dense: per-row losses with dy = 1/N is the gradient of their mean. Ours: scalar, dy = 1.
  const step = () => {
    const { value, grad } = tf.valueAndGrad(loss)(input, method === 'dense-ce' ? inverseCount : undefined);
    value.dataSync();
    tf.dispose([value, grad]);
  };

  step(); // warm-up
  const rssBeforeBytes = process.memoryUsage().rss;
  const tensorsBefore = tf.memory().numTensors;
  const times: number[] = [];
  for (let repetition = 0; repetition < repetitions; repetition++) {
    const started = performance.now();
    step();
    times.push(performance.now() - started);
  }
  const tensorsStable = tf.memory().numTensors === tensorsBefore;
  const bytesBefore = tf.memory().numBytes;
  const profile = await tf.profile(step);
  times.sort((a, b) => a - b);
  const medianMs = times[Math.floor(times.length / 2)]!;
  // Our losses skip the last position of each row (nothing to predict); the dense baseline does not.
  const tokens = method === 'dense-ce' ? positions : positions - batch;
  const result: ChildResult = {
    backend,
    vocab,
    positions,
    method,
    repetitions,
    medianMs,
    minMs: times[0]!,
    microsecondsPerToken: (medianMs * 1000) / tokens,
    peakExtraBytes: profile.peakBytes - bytesBefore,
    logitsBytes: positions * vocab * 4,
    rssBeforeBytes,
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
    tensorsStable,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

function runChild(
  backend: string,
  vocab: number,
  positions: number,
  method: Method,
  repetitions: number,
): ChildResult {
  const output = execFileSync(
    process.execPath,
    [
      '--conditions=source',
      '--expose-gc',
      '--import',
      'tsx',
      fileURLToPath(import.meta.url),
      '--child',
      backend,
      String(vocab),
      String(positions),
      method,
      String(repetitions),
    ],
    { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 20 },
  );
  return JSON.parse(output.trim().split('\n').at(-1)!) as ChildResult;
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
  const results: (ChildResult & { ratioToDense: number; ratioToSparseClm: number | null })[] = [];
  console.log(
    `cores: ${cpus().length}, load average before: ${loadBefore.map((x) => x.toFixed(2)).join(' ')}`,
  );
  console.log(
    'backend  vocab   pos  method    median ms  µs/token  ×dense  ×clm  peak extra tfjs  (×logits)  max RSS  tensors',
  );
  for (const configuration of configurations) {
    let dense: ChildResult | undefined;
    let clm: ChildResult | undefined;
    for (const method of METHODS) {
      const result = runChild(
        configuration.backend,
        configuration.vocab,
        configuration.positions,
        method,
        configuration.repetitions,
      );
      if (method === 'dense-ce') dense = result;
      if (method === 'clm') clm = result;
      const ratioToDense = result.microsecondsPerToken / dense!.microsecondsPerToken;
      // The fusion terms against this package's own CLM loss: what distillation adds to plain SFT.
      const ratioToSparseClm = clm ? result.microsecondsPerToken / clm.microsecondsPerToken : null;
      results.push({ ...result, ratioToDense, ratioToSparseClm });
      console.log(
        [
          result.backend.padEnd(7),
          String(result.vocab).padStart(6),
          String(result.positions).padStart(5),
          ` ${method.padEnd(9)}`,
          result.medianMs.toFixed(1).padStart(9),
          result.microsecondsPerToken.toFixed(1).padStart(9),
          ratioToDense.toFixed(2).padStart(7),
          (ratioToSparseClm === null ? '-' : ratioToSparseClm.toFixed(2)).padStart(5),
          mb(result.peakExtraBytes).padStart(16),
          `(${(result.peakExtraBytes / result.logitsBytes).toFixed(2)})`.padStart(10),
          mb(result.maxRssBytes).padStart(8),
          result.tensorsStable ? 'stable' : 'GROWING',
        ].join(' '),
      );
    }
  }
  const loadAfter = loadavg();
  console.log(`load average after: ${loadAfter.map((x) => x.toFixed(2)).join(' ')}`);
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
        baseline: 'tf.losses.softmaxCrossEntropy(tf.oneHot(labels, V), logits) + tf.valueAndGrad',
        results,
      },
      null,
      2,
    )}\n`,
  );
  console.log('wrote bench-results/loss.json');
}

if (process.argv[2] === '--child') {
  const [, , , backend, vocab, positions, method, repetitions] = process.argv;
  await child(
    backend as 'wasm' | 'cpu',
    Number(vocab),
    Number(positions),
    method as Method,
    Number(repetitions),
  );
} else {
  await main();
}
