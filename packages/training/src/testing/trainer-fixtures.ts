// Test helpers for the trainer: weight snapshots and the metrics rows without wall-clock fields.
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as tf from '@tensorflow/tfjs-core';

export async function snapshot(
  variables: ReadonlyMap<string, tf.Tensor>,
): Promise<Map<string, Float64Array>> {
  const out = new Map<string, Float64Array>();
  for (const [name, tensor] of variables) out.set(name, Float64Array.from(await tensor.data()));
  return out;
}

export function temporaryDirectory(label: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `fusechat-training-${label}-`));
}

/** `metrics.jsonl` rows, with the timing field (`tokens_per_second`) removed. */
export async function metricsWithoutTiming(file: string): Promise<Record<string, unknown>[]> {
  const text = await readFile(file, 'utf8');
  return text
    .trim()
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const { tokens_per_second: _, ...rest } = JSON.parse(line) as Record<string, unknown>;
      return rest;
    });
}
