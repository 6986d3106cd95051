import { register } from 'node:module';
import type * as TF from '@tensorflow/tfjs-core';

register('./tfjs-esm-hook.mjs', import.meta.url);
const { initBackend } = await import('@fusechat/backend');
const tf: typeof TF = await import('@tensorflow/tfjs-core');
const { createModel } = await import('../src/index.js');
await initBackend((process.argv[2] ?? 'wasm') as 'wasm', { quiet: true });
const model = createModel(
  {
    modelType: 'llama',
    vocabSize: 8000,
    hiddenSize: 256,
    intermediateSize: 688,
    numHiddenLayers: 8,
    numAttentionHeads: 8,
    numKeyValueHeads: 4,
  },
  { seed: 1 },
);
const B = 2;
const ids = tf.tensor2d(
  Array.from({ length: 256 * B }, (_, t) => (t * 7) % 8000),
  [B, 256],
  'int32',
);
const optimizer = tf.train.adam(1e-4);
function loss(logits: TF.Tensor3D): TF.Scalar {
  const [b, t, v] = logits.shape;
  const p = tf.reshape(tf.slice(logits, [0, 0, 0], [b, t - 1, v]), [-1, v]);
  const y = tf.oneHot(tf.reshape(tf.slice(ids, [0, 1], [b, t - 1]), [-1]), v);
  return tf.neg(tf.mean(tf.sum(tf.mul(tf.logSoftmax(p), y), -1))) as TF.Scalar;
}
const step = () => {
  const l = optimizer.minimize(() => loss(model.forward(ids)), true, model.trainableVariables());
  l!.dataSync();
  l!.dispose();
};
step();
for (let r = 0; r < 2; r++)
  for (const flag of [false, true]) {
    (globalThis as { noSplit?: boolean }).noSplit = flag;
    const t0 = performance.now();
    step();
    console.log(flag ? 'batched' : 'js-split', (performance.now() - t0).toFixed(0), 'ms');
  }
(globalThis as { noSplit?: boolean }).noSplit = false;
const info = await tf.profile(() => {
  step();
});
const byKernel = new Map<string, { ms: number; count: number }>();
let total = 0;
for (const k of info.kernels) {
  if (k.name === 'unnamed scope') continue;
  const ms = Number(k.kernelTimeMs) || 0;
  total += ms;
  const key = `${k.name} ${k.name.includes('MatMul') ? JSON.stringify(k.inputShapes) : ''}`;
  const e = byKernel.get(key) ?? { ms: 0, count: 0 };
  e.ms += ms;
  e.count++;
  byKernel.set(key, e);
}
const rows = [...byKernel].sort((a, b) => b[1].ms - a[1].ms).slice(0, 40);
let mm = 0;
for (const [k, v] of byKernel) if (k.includes('MatMul')) mm += v.ms;
for (const [k, v] of rows) console.log(v.ms.toFixed(1).padStart(8), String(v.count).padStart(5), k);
console.log('total kernel ms', total.toFixed(0), 'matmul ms', mm.toFixed(0), 'kernels', info.kernels.length);
const t0 = performance.now();
step();
console.log('step wall ms', (performance.now() - t0).toFixed(0));
