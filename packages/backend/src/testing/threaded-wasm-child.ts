// Child process of the exit test in create-threaded-wasm-backend.test.ts: computes on the
// threaded wasm backend, then simply returns. The process must exit by itself (no process.exit):
// live pthread workers must not keep Node alive.
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../init-backend.js';

const threads = Number(process.argv[2] ?? 2);
const selection = await initBackend('wasm', { quiet: true, wasmThreads: threads });
const a = tf.randomNormal([256, 256], 0, 1, 'float32', 1);
const product = tf.matMul(a, a);
const total = tf.sum(product).dataSync()[0]!;
tf.dispose([a, product]);
console.log(`threads ${selection.threads} sum ${Number.isFinite(total) ? 'finite' : 'not finite'}`);
