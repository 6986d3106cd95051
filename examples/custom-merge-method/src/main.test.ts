import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mergeModels } from '@fusechat/merge';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type CustomMergeResult,
  formatComparison,
  mergeConfig,
  registry,
  rmsDistance,
  runCustomMerge,
  TENSOR_SHAPES,
} from './main.js';

describe('examples/custom-merge-method', () => {
  let workDir: string;
  let result: CustomMergeResult;

  beforeAll(async () => {
    workDir = await mkdtemp(join(tmpdir(), 'fusechat-example-custom-merge-'));
    result = await runCustomMerge(workDir, { seed: 3 });
  });
  afterAll(async () => {
    await rm(workDir, { recursive: true, force: true });
  });

  it('registers trimmed_mean next to the built-ins', () => {
    expect(registry.names()).toContain('trimmed_mean');
    expect(registry.names()).toContain('variation_ratio');
    expect(result.trimmed.merge.report.mergeMethod).toBe('trimmed_mean');
    expect(result.trimmed.merge.warnings).toEqual([]);
  });

  it('is refused by mergeModels without the registry', async () => {
    await expect(
      mergeModels(mergeConfig('trimmed_mean', {}), { out: join(workDir, 'refused'), cwd: workDir }),
    ).rejects.toThrow(/Unknown merge method "trimmed_mean"/);
  });

  it.each(['model.layers.1.mlp.up_proj.weight', 'lm_head.weight'])(
    'writes the element-wise median delta for %s',
    (name) => {
      const pivot = result.family.pivot.get(name)!;
      const targets = result.family.targets.map((target) => target.get(name)!);
      const merged = result.trimmed.weights.get(name)!;
      for (let i = 0; i < pivot.length; i++) {
        const deltas = targets.map((target) => target[i]! - pivot[i]!).sort((a, b) => a - b);
        expect(merged[i]).toBe(Math.fround(pivot[i]! + deltas[1]!));
      }
    },
  );

  it('ignores the broken target where the plain mean does not', () => {
    for (const name of TENSOR_SHAPES.keys()) {
      const consensus = result.family.consensus.get(name)!;
      const trimmed = rmsDistance(result.trimmed.weights.get(name)!, consensus);
      const average = rmsDistance(result.average.weights.get(name)!, consensus);
      if (name.includes('.mlp.')) {
        expect(trimmed).toBeLessThan(0.005);
        expect(average).toBeGreaterThan(10 * trimmed);
      } else {
        // Healthy tensors: every target agrees, both merges land near θ0 + τ.
        expect(trimmed).toBeLessThan(0.005);
        expect(average).toBeLessThan(0.005);
      }
    }
  });

  it('prints one row per tensor', () => {
    const rows = formatComparison(result).split('\n');
    expect(rows.filter((row) => row.startsWith('model.') || row.startsWith('lm_head'))).toHaveLength(
      TENSOR_SHAPES.size,
    );
  });
});
