import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { wasmHeapBytes } from './describe-backend.js';
import { initBackend } from './init-backend.js';

describe('wasmHeapBytes', () => {
  it('is undefined off wasm, and on wasm grows with a large tensor and does not shrink after it is freed', async () => {
    await initBackend('cpu', { quiet: true });
    expect(wasmHeapBytes()).toBeUndefined();
    await initBackend('wasm', { quiet: true, wasmThreads: 1 });
    const before = wasmHeapBytes()!;
    expect(before).toBeGreaterThan(0);
    const bytes = before + 64 * 1024 ** 2; // more than the whole heap: it must grow
    const big = tf.fill([bytes / 4], 1);
    await big.data();
    const grown = wasmHeapBytes()!;
    expect(grown).toBeGreaterThanOrEqual(bytes);
    big.dispose();
    expect(wasmHeapBytes()).toBe(grown);
  }, 60_000);
});
