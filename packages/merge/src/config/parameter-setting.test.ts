import { describe, expect, it } from 'vitest';
import { evaluateSetting } from './parameter-setting.js';

describe('evaluateSetting (mergekit semantics)', () => {
  const name = 'model.layers.7.self_attn.q_proj.weight';

  it('returns scalars unchanged', () => {
    expect(evaluateSetting(name, 0.3, 0.5)).toBe(0.3);
    expect(evaluateSetting(name, true, 0.5)).toBe(true);
  });

  it('interpolates a gradient over t', () => {
    const gradient = [0, 0.5, 0.3, 0.7, 1];
    expect(evaluateSetting(name, gradient, 0)).toBe(0);
    expect(evaluateSetting(name, gradient, 1)).toBe(1);
    // t = 0.375 → scaled 1.5 → halfway between 0.5 and 0.3
    expect(evaluateSetting(name, gradient, 0.375)).toBeCloseTo(0.4, 12);
    // layer 7 of 32: t = 7/31
    const t = 7 / 31;
    const scaled = t * 4;
    expect(evaluateSetting(name, gradient, t)).toBeCloseTo((1 - (scaled - 0)) * 0 + (scaled - 0) * 0.5, 12);
  });

  it('takes the first matching filter, falls through to a filterless entry', () => {
    const setting = [{ filter: 'mlp', value: 0.9 }, { filter: 'self_attn', value: [0, 1] }, { value: 0.5 }];
    expect(evaluateSetting(name, setting, 0.25)).toBe(0.25);
    expect(evaluateSetting('model.norm.weight', setting, 0)).toBe(0.5);
    expect(evaluateSetting('model.layers.0.mlp.up_proj.weight', setting, 0)).toBe(0.9);
  });

  it('returns undefined when nothing matches', () => {
    expect(evaluateSetting('lm_head.weight', [{ filter: 'mlp', value: 1 }], 0)).toBeUndefined();
    expect(evaluateSetting('lm_head.weight', { filter: '*', value: 2 }, 0)).toBe(2);
  });

  it('indexes lists of non-numbers', () => {
    expect(evaluateSetting(name, ['a', 'b', 'c'], 0.6)).toBe('b');
  });
});
