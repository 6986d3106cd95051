import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { builtinMergeMethods } from './builtin-merge-methods.js';
import { defineMergeMethod } from './define-merge-method.js';
import { createMergeRegistry } from './merge-registry.js';
import { testMergeMethod } from './testing.js';

// Every built-in passes the same suite a plug-in author runs.
testMergeMethod(builtinMergeMethods.linear, {
  perModelParameters: { weight: 1 },
  invalidParameters: [{ perModelParameters: { weight: 'heavy' } }],
});
testMergeMethod(builtinMergeMethods.task_arithmetic, {
  parameters: { lambda: 0.5 },
  perModelParameters: { weight: 0.3 },
});
testMergeMethod(builtinMergeMethods.variation_ratio);
testMergeMethod(builtinMergeMethods.ties, {
  perModelParameters: { weight: 1, density: 0.5 },
  invalidParameters: [{ perModelParameters: { density: 1.5 } }, { perModelParameters: { density: -0.1 } }],
});
testMergeMethod(builtinMergeMethods.dare_linear, {
  perModelParameters: { weight: 0.5, density: 0.6 },
  invalidParameters: [{ parameters: { rescale_mode: 'l3' } }],
});
testMergeMethod(builtinMergeMethods.dare_ties, { perModelParameters: { weight: 0.5, density: 0.6 } });
testMergeMethod(builtinMergeMethods.sce, {
  parameters: { select_topk: 0.3 },
  invalidParameters: [{ parameters: { select_topk: 2 } }, { parameters: { sce_variant: 'other' } }],
});
testMergeMethod(builtinMergeMethods.sce, { parameters: { select_topk: 0.3, sce_variant: 'fusechat' } });
testMergeMethod(builtinMergeMethods.slerp, {
  parameters: { t: 0.3 },
  invalidParameters: [{ parameters: { t: 'half' } }],
});

// A user's method, written in a few lines, passes it too.
const scaledAverage = defineMergeMethod({
  name: 'scaled_average',
  description: 'Average of the deltas, scaled.',
  parameters: { scale: z.number().positive().default(1) },
  merge({ base, models, parameters }) {
    const out = Float32Array.from(base!);
    for (const { tensor } of models) {
      for (let i = 0; i < out.length; i++)
        out[i] = out[i]! + (parameters.scale * (tensor[i]! - base![i]!)) / models.length;
    }
    return out;
  },
});
testMergeMethod(scaledAverage, {
  parameters: { scale: 2 },
  invalidParameters: [{ parameters: { scale: -1 } }],
});

describe('createMergeRegistry', () => {
  it('finds built-in and custom methods by config name', () => {
    const registry = createMergeRegistry({ ...builtinMergeMethods, scaledAverage });
    expect(registry.names()).toEqual([
      'dare_linear',
      'dare_ties',
      'linear',
      'scaled_average',
      'sce',
      'slerp',
      'task_arithmetic',
      'ties',
      'variation_ratio',
    ]);
    expect(registry.get('scaled_average')).toBe(scaledAverage);
  });

  it('throws an UnknownNameError listing the known methods', () => {
    const registry = createMergeRegistry(builtinMergeMethods);
    expect(() => registry.get('tie')).toThrow(
      /Unknown merge method "tie". Did you mean "ties"\? Known: dare_linear, dare_ties/,
    );
  });

  it('refuses two methods with one name, and names that are not snake_case', () => {
    const twin = defineMergeMethod({ name: 'linear', merge: ({ base }) => base! });
    expect(() => createMergeRegistry({ ...builtinMergeMethods, twin })).toThrow(/both named "linear"/);
    expect(() => defineMergeMethod({ name: 'My Method', merge: ({ base }) => base! })).toThrow(/snake_case/);
  });
});
