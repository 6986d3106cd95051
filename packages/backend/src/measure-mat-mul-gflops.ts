import * as tf from '@tensorflow/tfjs-core';

export interface MeasureMatMulOptions {
  /** Side of the square matrices; 512 by default. */
  size?: number;
  /** Timed products after one warm-up; 5 by default. */
  repeats?: number;
}

/**
 * GFLOP/s (2·n³ per product) of a plain square `tf.matMul` on the active backend, median of
 * `repeats` timed runs after a warm-up — the denominator for "achieved fraction of matMul speed".
 * Leaves no tensors behind.
 *
 * @example
 * ```ts
 * await initBackend('wasm');
 * const peak = await measureMatMulGflops({ size: 512, repeats: 5 }); // ≈ 30 on one core
 * ```
 */
export async function measureMatMulGflops(options: MeasureMatMulOptions = {}): Promise<number> {
  const size = options.size ?? 512;
  const repeats = Math.max(1, options.repeats ?? 5);
  const a = tf.randomNormal([size, size], 0, 1, 'float32', 1);
  const b = tf.randomNormal([size, size], 0, 1, 'float32', 2);
  try {
    const product = async () => {
      const c = tf.matMul(a, b);
      try {
        await c.data();
      } finally {
        c.dispose();
      }
    };
    await product();
    const seconds: number[] = [];
    for (let run = 0; run < repeats; run++) {
      const start = performance.now();
      await product();
      seconds.push((performance.now() - start) / 1000);
    }
    seconds.sort((x, y) => x - y);
    const median = seconds[Math.floor((seconds.length - 1) / 2)]!;
    return (2 * size ** 3) / median / 1e9;
  } finally {
    a.dispose();
    b.dispose();
  }
}
