import {
  createSparseDistributions,
  getRow,
  InvalidInputError,
  setRow,
  UnknownNameError,
} from '@fusechat/core';
import { describe, expect, it } from 'vitest';
import { avgCE } from './avg-ce/avg-ce.js';
import { fuseTargets } from './fuse-targets.js';
import { defineFusionFunction } from './fusion-function.js';
import { createFusionRegistry } from './fusion-registry.js';

function single(ids: number[], logits: number[]) {
  const d = createSparseDistributions(1, 3);
  setRow(d, 0, ids, logits);
  return d;
}

describe('fuseTargets', () => {
  const pivot = { distributions: single([1, 2], [1, 0]), ce: 1.5 };
  const source = { distributions: single([7, 1], [2, 1]), ce: 0.5 };

  it('defaults to MinCE', () => {
    const fused = fuseTargets({ pivot, sources: [source] });
    expect(fused.teacherWeights).toEqual([0, 1]);
    expect(getRow(fused.distributions, 0).ids).toEqual([7, 1]);
  });

  it('accepts a name, a function and a custom registry', () => {
    expect(fuseTargets({ pivot, sources: [source] }, { fusion: 'avg_ce' }).teacherWeights[1]).toBeCloseTo(
      1 / (1 + Math.exp(-1)),
      12,
    );
    expect(fuseTargets({ pivot, sources: [source] }, { fusion: avgCE, k: 2 }).distributions.k).toBe(2);
    const last = defineFusionFunction({
      name: 'last',
      description: 'the last source',
      fuse: (teachers) => ({
        distributions: teachers.at(-1)!.distributions,
        teacherWeights: teachers.map((_, i) => (i === teachers.length - 1 ? 1 : 0)),
      }),
    });
    const registry = createFusionRegistry({ last });
    expect(fuseTargets({ pivot, sources: [source] }, { fusion: 'last', registry }).teacherWeights).toEqual([
      0, 1,
    ]);
    expect(() => fuseTargets({ pivot, sources: [source] }, { fusion: 'min_ce', registry })).toThrow(
      UnknownNameError,
    );
  });

  it('checks ids against the vocabulary when told its size', () => {
    expect(() => fuseTargets({ pivot, sources: [source] }, { vocabSize: 5 })).toThrow(InvalidInputError);
    expect(() => fuseTargets({ pivot, sources: [source] }, { vocabSize: 5 })).toThrow(
      /sources\[0\]\.distributions: row 0 holds token id 7/,
    );
  });

  it('passes the temperature to the fusion function, which tempers each teacher', () => {
    const seen: number[][] = [];
    const spy = defineFusionFunction({
      name: 'spy',
      description: 'records what it sees',
      fuse: (teachers, options) => {
        seen.push(Array.from(getRow(teachers[1]!.distributions, 0).logits), [Object.keys(options).length]);
        return {
          distributions: teachers[0]!.distributions,
          teacherWeights: teachers.map((_, i) => (i === 0 ? 1 : 0)),
        };
      },
    });
    fuseTargets({ pivot, sources: [source] }, { fusion: spy, temperature: 4 });
    expect(seen).toEqual([[0.5, 0.25], [0]]);
    const avg = getRow(
      fuseTargets({ pivot, sources: [source] }, { fusion: 'avg_ce', temperature: 4 }).distributions,
      0,
    );
    expect(avg.ids.sort()).toEqual([1, 2, 7]);
  });
});
