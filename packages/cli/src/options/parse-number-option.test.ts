import { describe, expect, it } from 'vitest';
import { POSITIVE_INTEGER, parseNumberOption } from './parse-number-option.js';

describe('parseNumberOption', () => {
  it('returns numbers that fit the rule', () => {
    expect(parseNumberOption('8', 'batch-size', POSITIVE_INTEGER)).toBe(8);
    expect(parseNumberOption(' -3 ', 'seed', { integer: true, rule: 'an integer' })).toBe(-3);
    expect(parseNumberOption('1', 'top-p', { min: 0, max: 1, minExclusive: true, rule: 'in (0, 1]' })).toBe(
      1,
    );
    expect(parseNumberOption('0.25', 'temperature', { min: 0, rule: 'a number ≥ 0' })).toBe(0.25);
  });

  it.each([
    ['', POSITIVE_INTEGER],
    ['0', POSITIVE_INTEGER],
    ['1.5', POSITIVE_INTEGER],
    ['1e3', POSITIVE_INTEGER],
    ['0x10', POSITIVE_INTEGER],
    ['9007199254740993', POSITIVE_INTEGER],
    ['many', POSITIVE_INTEGER],
    ['0', { min: 0, minExclusive: true, rule: 'in (0, 1]' }],
    ['1.01', { min: 0, max: 1, rule: 'in [0, 1]' }],
    ['Infinity', { rule: 'a number' }],
  ])('refuses %j with CLI_INVALID_NUMBER naming the option', (text, rule) => {
    expect(() => parseNumberOption(text, 'opt', rule)).toThrow(
      expect.objectContaining({
        code: 'CLI_INVALID_NUMBER',
        message: `--opt: "${text}" is not ${rule.rule}.`,
      }),
    );
  });
});
