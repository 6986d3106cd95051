// Multi-threaded wasm in Node: initBackend's choice of threads, XNNPACK really using them, results
// equal to single-threaded and to float64 references, fallback, and a process that exits by itself.
import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { isFuseChatError, type Logger } from '@fusechat/core';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import { initBackend, resetBackendSelection } from '../init-backend.js';
import { batchMatMul } from '../ops/batch-mat-mul.js';
import { linear } from '../ops/linear.js';
import {
  expectClose,
  expectGradientsMatch,
  randomValues,
  referenceBatchMatMul,
} from '../testing/gradient-check.js';

const repositoryRoot = join(import.meta.dirname, '..', '..', '..', '..');

function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const push = (message: string) => lines.push(message);
  return { lines, debug: push, info: push, warn: push, error: push };
}

async function useThreads(threads: number) {
  resetBackendSelection();
  return initBackend('wasm', { quiet: true, wasmThreads: threads });
}

const HEADS = 2;

/** A causal self-attention block with output projection and residual, on fusechat's ops. */
function attentionBlock(x: tf.Tensor, wq: tf.Tensor, wk: tf.Tensor, wv: tf.Tensor, wo: tf.Tensor): tf.Tensor {
  const [batch, time, width] = x.shape as [number, number, number];
  const headDim = width / HEADS;
  const heads = (t: tf.Tensor) => tf.transpose(tf.reshape(t, [batch, time, HEADS, headDim]), [0, 2, 1, 3]);
  const q = heads(linear(x, wq));
  const k = heads(linear(x, wk));
  const v = heads(linear(x, wv));
  const scores = tf.mul(batchMatMul(q, k, { transposeB: true }), 1 / Math.sqrt(headDim));
  const causal = tf.linalg.bandPart(tf.ones([time, time]), -1, 0);
  const masked = tf.where(tf.cast(causal, 'bool'), scores, tf.fill(scores.shape, -1e9));
  const mixed = batchMatMul(tf.softmax(masked), v);
  const merged = tf.reshape(tf.transpose(mixed, [0, 2, 1, 3]), [batch, time, width]);
  return tf.add(linear(merged, wo), x);
}

/** The same block in float64 on row-major arrays. */
function referenceAttentionBlock(
  batch: number,
  time: number,
  width: number,
  ...[x, wq, wk, wv, wo]: Float64Array[]
): Float64Array {
  const headDim = width / HEADS;
  const project = (input: Float64Array, weight: Float64Array) => {
    const out = new Float64Array(batch * time * width);
    for (let row = 0; row < batch * time; row++)
      for (let o = 0; o < width; o++) {
        let total = 0;
        for (let i = 0; i < width; i++) total += input[row * width + i]! * weight[o * width + i]!;
        out[row * width + o] = total;
      }
    return out;
  };
  const q = project(x!, wq!);
  const k = project(x!, wk!);
  const v = project(x!, wv!);
  const merged = new Float64Array(batch * time * width);
  for (let b = 0; b < batch; b++)
    for (let h = 0; h < HEADS; h++)
      for (let t = 0; t < time; t++) {
        const at = (tensor: Float64Array, s: number, d: number) =>
          tensor[(b * time + s) * width + h * headDim + d]!;
        const scores: number[] = [];
        for (let s = 0; s <= t; s++) {
          let dot = 0;
          for (let d = 0; d < headDim; d++) dot += at(q, t, d) * at(k, s, d);
          scores.push(dot / Math.sqrt(headDim));
        }
        const max = Math.max(...scores);
        const weights = scores.map((score) => Math.exp(score - max));
        const total = weights.reduce((a, w) => a + w, 0);
        for (let d = 0; d < headDim; d++) {
          let mixed = 0;
          for (let s = 0; s <= t; s++) mixed += (weights[s]! / total) * at(v, s, d);
          merged[(b * time + t) * width + h * headDim + d] = mixed;
        }
      }
  const out = project(merged, wo!);
  for (let i = 0; i < out.length; i++) out[i] = out[i]! + x![i]!;
  return out;
}

interface Results {
  matMul: Float32Array;
  batched: Float32Array[];
  batchedOp: Float32Array[];
  blockValue: Float32Array;
  blockGradients: Float32Array[];
}

const TRANSPOSES = [
  [false, false],
  [true, false],
  [false, true],
  [true, true],
] as const;
const [M, K, N, BATCH] = [96, 80, 112, 3];

const matMulInputs = { a: randomValues(192 * 160, 1), b: randomValues(160 * 144, 2) };
const batchedInputs = TRANSPOSES.map((_, i) => ({
  a: randomValues(BATCH * M * K, 10 + i),
  b: randomValues(BATCH * K * N, 20 + i),
}));
const blockShape = { batch: 2, time: 48, width: 64 };
const blockInputs = [
  randomValues(blockShape.batch * blockShape.time * blockShape.width, 30),
  ...[31, 32, 33, 34].map((seed) => randomValues(blockShape.width ** 2, seed, 0.2)),
];

/** Everything the equality test compares, computed on the running backend; disposes all it made. */
function computeAll(): Results {
  const before = tf.memory().numTensors;
  const f32 = (values: Float64Array, shape: number[]) => tf.tensor(Float32Array.from(values), shape);
  const results = tf.tidy(() => {
    const matMul = tf
      .matMul(f32(matMulInputs.a, [192, 160]), f32(matMulInputs.b, [160, 144]))
      .dataSync() as Float32Array;
    const batched: Float32Array[] = [];
    const batchedOp: Float32Array[] = [];
    TRANSPOSES.forEach(([transposeA, transposeB], i) => {
      const a = f32(batchedInputs[i]!.a, transposeA ? [BATCH, K, M] : [BATCH, M, K]);
      const b = f32(batchedInputs[i]!.b, transposeB ? [BATCH, N, K] : [BATCH, K, N]);
      batched.push(tf.matMul(a, b, transposeA, transposeB).dataSync() as Float32Array);
      batchedOp.push(batchMatMul(a, b, { transposeA, transposeB }).dataSync() as Float32Array);
    });
    const { batch, time, width } = blockShape;
    const [x, ...weights] = blockInputs.map((values, i) =>
      f32(values, i === 0 ? [batch, time, width] : [width, width]),
    );
    const blockValue = attentionBlock(
      x!,
      ...(weights as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]),
    ).dataSync() as Float32Array;
    const outputWeights = f32(randomValues(batch * time * width, 35), [batch, time, width]);
    const gradients = tf.grads((...xs: tf.Tensor[]) =>
      tf.sum(tf.mul(attentionBlock(xs[0]!, xs[1]!, xs[2]!, xs[3]!, xs[4]!), outputWeights)),
    )([x!, ...weights]);
    return {
      matMul,
      batched,
      batchedOp,
      blockValue,
      blockGradients: gradients.map((g) => g.dataSync() as Float32Array),
    };
  });
  expect(tf.memory().numTensors).toBe(before);
  return results;
}

function expectMatchesReferences(results: Results): void {
  expectClose(
    results.matMul,
    referenceBatchMatMul(matMulInputs.a, matMulInputs.b, 1, 192, 160, 144),
    1e-5,
    'matMul',
  );
  TRANSPOSES.forEach(([transposeA, transposeB], i) => {
    const reference = referenceBatchMatMul(
      batchedInputs[i]!.a,
      batchedInputs[i]!.b,
      BATCH,
      M,
      K,
      N,
      transposeA,
      transposeB,
    );
    expectClose(
      results.batched[i]!,
      reference,
      1e-5,
      `tf.matMul transposeA=${transposeA} transposeB=${transposeB}`,
    );
    expectClose(
      results.batchedOp[i]!,
      reference,
      1e-5,
      `batchMatMul transposeA=${transposeA} transposeB=${transposeB}`,
    );
  });
  const { batch, time, width } = blockShape;
  expectClose(
    results.blockValue,
    referenceAttentionBlock(batch, time, width, ...blockInputs),
    1e-5,
    'attention block',
  );
}

afterAll(() => resetBackendSelection());

describe('multi-threaded wasm in Node', () => {
  it('initBackend sizes the pool by the idle cores by default and XNNPACK really runs that many', async () => {
    const logger = recordingLogger();
    resetBackendSelection();
    const selection = await initBackend('wasm', { logger });
    const most = Math.min(availableParallelism(), 8);
    const threads = selection.threads!;
    expect(threads).toBeGreaterThanOrEqual(1);
    expect(threads).toBeLessThanOrEqual(most);
    const described = threads === 1 ? 'single-threaded' : `${threads} threads`;
    const why =
      threads < most
        ? ` \\(\\d\\.\\d of ${availableParallelism()} cores idle; --threads ${most} to use them all\\)`
        : '';
    expect(logger.lines).toHaveLength(1);
    expect(logger.lines[0]).toMatch(new RegExp(`^backend: wasm \\[SIMD, ${described}${why}\\]$`));
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    expect(wasm.getThreadsCount()).toBe(threads);
  });

  it('wasmThreads overrides the default: 1 is the single-threaded build, 3 runs 3 threads even on 2 cores', async () => {
    const logger = recordingLogger();
    resetBackendSelection();
    expect((await initBackend('wasm', { logger, wasmThreads: 1 })).threads).toBe(1);
    expect((await initBackend('wasm', { logger, wasmThreads: 3 })).threads).toBe(3);
    expect((await import('@tensorflow/tfjs-backend-wasm')).getThreadsCount()).toBe(3);
    expect((await initBackend('wasm', { logger, wasmThreads: 20 })).threads).toBe(8);
    expect(logger.lines).toEqual([
      'backend: wasm [SIMD, single-threaded]',
      'backend: wasm [SIMD, 3 threads]',
      'backend: wasm [SIMD, 8 threads (20 requested; tfjs-backend-wasm caps XNNPACK at 8)]',
    ]);
  });

  it('matMul, batched matMul with every transpose and an attention forward+gradient: same on 1 and 2 threads, and match float64', async () => {
    expect((await useThreads(1)).threads).toBe(1);
    const single = computeAll();
    expect((await useThreads(2)).threads).toBe(2);
    const threaded = computeAll();
    expectMatchesReferences(single);
    expectMatchesReferences(threaded);
    // XNNPACK splits the output into tiles across threads, never a sum: the very same float32 values.
    expect(threaded.matMul).toEqual(single.matMul);
    expect(threaded.batched).toEqual(single.batched);
    expect(threaded.batchedOp).toEqual(single.batchedOp);
    expect(threaded.blockValue).toEqual(single.blockValue);
    expect(threaded.blockGradients).toEqual(single.blockGradients);
  });

  it('the attention block gradient on 2 threads matches finite differences of the float64 reference', async () => {
    await useThreads(2);
    const [batch, time, width] = [1, 6, 8];
    expectGradientsMatch({
      shapes: [
        [batch, time, width],
        [width, width],
        [width, width],
        [width, width],
        [width, width],
      ],
      compute: (x, wq, wk, wv, wo) => attentionBlock(x!, wq!, wk!, wv!, wo!),
      reference: (...inputs) => referenceAttentionBlock(batch, time, width, ...inputs),
      scale: 0.5,
    });
  });

  it('refuses to change the thread count while tensors live on the wasm backend, and keeps them', async () => {
    await useThreads(2);
    const kept = tf.tensor1d([1, 2, 3]);
    const error = await initBackend('wasm', { quiet: true, wasmThreads: 1 }).catch(
      (caught: unknown) => caught,
    );
    expect(isFuseChatError(error) && error.code).toBe('INVALID_INPUT');
    expect((error as Error).message).toMatch(/1 tensor\(s\) live on it: dispose them first/);
    expect(Array.from(kept.dataSync())).toEqual([1, 2, 3]);
    kept.dispose();
    expect((await initBackend('wasm', { quiet: true, wasmThreads: 1 })).threads).toBe(1);
  });

  it('falls back to single-threaded with the reason in the notice when the threaded build fails', async () => {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    await useThreads(1);
    resetBackendSelection();
    const logger = recordingLogger();
    const selection = await initBackend('wasm', {
      logger,
      wasmThreads: 4,
      importer: async () => ({
        ...wasm,
        BackendWasm: class {
          constructor() {
            throw new Error('injected failure');
          }
        },
      }),
    });
    expect(selection.threads).toBe(1);
    expect(logger.lines).toEqual([
      'backend: wasm [SIMD, single-threaded (4 threads failed: injected failure)]',
    ]);
    expect(tf.tidy(() => tf.add(tf.scalar(2), tf.scalar(3))).dataSync()[0]).toBe(5);
  });

  it('a process that computed on 2 threads exits by itself', async () => {
    const child = spawn(
      process.execPath,
      [
        '--conditions=source',
        '--import',
        join(repositoryRoot, 'scripts', 'register-source-hooks.mjs'),
        '--import',
        'tsx',
        join(import.meta.dirname, '..', 'testing', 'threaded-wasm-child.ts'),
        '2',
      ],
      // A hang guard, not a timing assertion: a child kept alive by its workers is killed, and fails below.
      { cwd: repositoryRoot, stdio: ['ignore', 'pipe', 'pipe'], timeout: 90_000, killSignal: 'SIGKILL' },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const [code, signal] = await new Promise<[number | null, string | null]>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (exitCode, exitSignal) => resolve([exitCode, exitSignal]));
    });
    expect(stderr).toBe('');
    expect(stdout.trim()).toBe('threads 2 sum finite');
    expect([code, signal]).toEqual([0, null]);
  });
});
