import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openCheckpoint } from '@fusechat/safetensors';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatWeightTable, type MergeOnlyResult, runMergeOnly } from './main.js';

/** VaRM written out in float64, straight from DESIGN.md §3 — shares no code with the engine. */
function referenceVarm(
  pivot: Float32Array,
  targets: readonly Float32Array[],
): { weights: number[]; merged: number[] } {
  const meanSquares = targets.map((target) => {
    let sum = 0;
    for (let i = 0; i < pivot.length; i++) sum += (target[i]! - pivot[i]!) ** 2;
    return sum / pivot.length;
  });
  const total = meanSquares.reduce((a, b) => a + b, 0);
  const weights = total > 0 ? meanSquares.map((m) => m / total) : targets.map(() => 1 / targets.length);
  const merged = Array.from(pivot, (_, i) =>
    targets.reduce((sum, target, j) => sum + weights[j]! * target[i]!, 0),
  );
  return { weights, merged };
}

describe('examples/merge-only', () => {
  let workDir: string;
  let result: MergeOnlyResult;
  let merged: Map<string, Float32Array>;

  beforeAll(async () => {
    workDir = await mkdtemp(join(tmpdir(), 'fusechat-example-merge-only-'));
    result = await runMergeOnly(workDir, { seed: 7 });
    const checkpoint = await openCheckpoint(result.merge.out);
    try {
      merged = new Map();
      for (const name of checkpoint.tensors.keys()) merged.set(name, await checkpoint.readFloat32(name));
    } finally {
      await checkpoint.close();
    }
  });
  afterAll(async () => {
    await rm(workDir, { recursive: true, force: true });
  });

  it('writes a Hugging Face checkpoint with every tensor, the config and the report', async () => {
    const { out } = result.merge;
    expect([...merged.keys()].sort()).toEqual([...result.family.pivot.keys()].sort());
    expect(merged.size).toBe(21);
    const config = JSON.parse(await readFile(join(out, 'config.json'), 'utf8'));
    expect(config).toMatchObject({ model_type: 'llama', num_hidden_layers: 2, torch_dtype: 'float32' });
    expect(existsSync(join(out, 'merge-report.json'))).toBe(true);
    expect(existsSync(join(out, 'merge-report.svg'))).toBe(true);
    expect(result.merge.report.mergeMethod).toBe('variation_ratio');
  });

  it.each([
    'model.layers.0.self_attn.q_proj.weight',
    'model.layers.1.mlp.down_proj.weight',
    'model.layers.1.post_attention_layernorm.weight',
    'lm_head.weight',
  ])('%s equals a float64 VaRM computed independently', (name) => {
    const { pivot, targetA, targetB } = result.family;
    const reference = referenceVarm(pivot.get(name)!.values, [
      targetA.get(name)!.values,
      targetB.get(name)!.values,
    ]);
    const actual = merged.get(name)!;
    expect(actual.length).toBe(reference.merged.length);
    for (let i = 0; i < actual.length; i++) {
      // The engine accumulates in float64 and rounds once to float32 (≈ 6e-8 relative).
      expect(Math.abs(actual[i]! - reference.merged[i]!)).toBeLessThanOrEqual(
        1e-7 * Math.max(1, Math.abs(reference.merged[i]!)),
      );
    }
    const reported = result.merge.report.tensors.find((tensor) => tensor.name === name)!;
    expect(reported.weights).toHaveLength(2);
    reported.weights!.forEach((weight, j) => {
      expect(weight).toBeCloseTo(reference.weights[j]!, 12);
    });
  });

  it('weights each target by how much it changed the tensor', () => {
    const weightsOf = (name: string) =>
      result.merge.report.tensors.find((tensor) => tensor.name === name)!.weights!;
    // Target A moved attention most, target B the MLPs; only B touched the layer norms.
    expect(weightsOf('model.layers.0.self_attn.k_proj.weight')[0]).toBeGreaterThan(0.9);
    expect(weightsOf('model.layers.0.mlp.up_proj.weight')[1]).toBeGreaterThan(0.95);
    expect(weightsOf('model.layers.0.input_layernorm.weight')).toEqual([0, 1]);
    // Neither moved the final norm: uniform weights, and the merged tensor is the pivot's.
    expect(weightsOf('model.norm.weight')).toEqual([0.5, 0.5]);
    expect([...merged.get('model.norm.weight')!]).toEqual([
      ...result.family.pivot.get('model.norm.weight')!.values,
    ]);
  });

  it('prints one row per tensor with its weights', () => {
    const lines = formatWeightTable(result.merge).split('\n');
    expect(lines).toHaveLength(2 + 21);
    const row = lines.find((line) => line.startsWith('model.layers.0.input_layernorm.weight'))!;
    expect(row.trim().split(/\s+/).slice(-2)).toEqual(['0.0000', '1.0000']);
  });
});
