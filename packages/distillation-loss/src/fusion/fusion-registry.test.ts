import { createSparseDistributions, getRow, setRow, UnknownNameError } from '@fusechat/core';
import { describe, expect, it } from 'vitest';
import { defineFusionFunction } from './fusion-function.js';
import { builtinFusionFunctions, createFusionRegistry } from './fusion-registry.js';

const pivotOnly = defineFusionFunction({
  name: 'pivot_only',
  description: 'Always the pivot.',
  fuse: (teachers) => ({
    distributions: teachers[0]!.distributions,
    teacherWeights: teachers.map((_, index) => (index === 0 ? 1 : 0)),
  }),
});

describe('createFusionRegistry', () => {
  it('looks up built-in and user functions', () => {
    const registry = createFusionRegistry({ ...builtinFusionFunctions, pivot_only: pivotOnly });
    expect(registry.names).toEqual(['min_ce', 'avg_ce', 'pivot_only']);
    expect(registry.get('pivot_only')).toBe(pivotOnly);
    expect(registry.has('avg_ce')).toBe(true);
    const d = createSparseDistributions(1, 2);
    setRow(d, 0, [4], [0]);
    expect(
      getRow(registry.get('pivot_only').fuse([{ distributions: d, ce: 9 }]).distributions, 0).ids,
    ).toEqual([4]);
  });

  it('throws an UnknownNameError listing the known names', () => {
    const registry = createFusionRegistry(builtinFusionFunctions);
    expect(() => registry.get('min-ce')).toThrow(UnknownNameError);
    expect(() => registry.get('min-ce')).toThrow(
      'Unknown fusion function "min-ce". Did you mean "min_ce"? Known: min_ce, avg_ce.',
    );
  });

  it('validates definitions and their outputs', () => {
    expect(() => defineFusionFunction({ name: 'Bad Name', description: '', fuse: pivotOnly.fuse })).toThrow(
      /snake_case/,
    );
    expect(() => createFusionRegistry({ broken: {} as never })).toThrow(/fuse\(\) method/);
    const wrong = defineFusionFunction({
      name: 'wrong',
      description: 'returns too few rows',
      fuse: () => ({ distributions: createSparseDistributions(0, 1), teacherWeights: [1] }),
    });
    const d = createSparseDistributions(2, 1);
    expect(() => wrong.fuse([{ distributions: d, ce: 0 }])).toThrow(/returned 0 positions for 2/);
  });
});
