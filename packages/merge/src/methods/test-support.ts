// Test-only helpers shared by the method tests (not exported from the package).
import { createRandom } from '@fusechat/core';
import type { AnyMergeMethod, MergeTensorResult } from '../merge-method.js';

export interface MethodCall {
  readonly base?: Float64Array | number[];
  readonly models: readonly {
    readonly tensor: Float64Array | number[];
    readonly parameters?: Record<string, unknown>;
  }[];
  readonly parameters?: Record<string, unknown>;
  readonly seed?: number;
  readonly tensorName?: string;
}

/** Runs a method on float32 copies of the inputs; returns the output as plain numbers. */
export function mergeOnce(
  method: AnyMergeMethod,
  call: MethodCall,
): { tensor: number[]; weights?: readonly number[] } {
  const tensorName = call.tensorName ?? 'model.layers.0.mlp.up_proj.weight';
  const length = call.models[0]!.tensor.length;
  const result = method.merge({
    tensorName,
    shape: [length],
    base: call.base === undefined ? undefined : Float32Array.from(call.base),
    models: call.models.map((model, index) => ({
      model: `model-${index}`,
      tensor: Float32Array.from(model.tensor),
      parameters: method.parsePerModelParameters({ ...call.parameters, ...model.parameters }),
    })),
    parameters: method.parseParameters(call.parameters ?? {}),
    random: createRandom(call.seed ?? 0).fork(tensorName),
  });
  const output = result instanceof Float32Array ? { tensor: result } : (result as MergeTensorResult);
  return { tensor: [...output.tensor], ...(output.weights ? { weights: output.weights } : {}) };
}

/** Float32-representable random normal values (so references see exactly what the method sees). */
export function randomValues(seed: number, length: number, std = 1, mean = 0): number[] {
  const random = createRandom(seed);
  return Array.from({ length }, () => Math.fround(mean + std * random.normal()));
}

/** base + small random change: a "fine-tuned" copy. */
export function perturbed(base: readonly number[], seed: number, std = 0.01): number[] {
  const noise = randomValues(seed, base.length, std);
  return base.map((value, i) => Math.fround(value + noise[i]!));
}

/** Max |a − b| relative to max(1, |b|). */
export function maxRelativeError(actual: readonly number[], expected: readonly number[]): number {
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!) / Math.max(1, Math.abs(expected[i]!)));
  }
  return worst;
}
