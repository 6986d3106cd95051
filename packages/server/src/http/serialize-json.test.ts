import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { serializeJson } from './serialize-json.js';

describe('serializeJson', () => {
  it('writes Maps as objects in insertion order, integer-like keys included', () => {
    const dict = new Map<number, unknown>([
      [13, { logprob: -1.5, rank: 40 }],
      [7, { logprob: -0.1, rank: 1 }],
    ]);
    expect(serializeJson({ prompt_logprobs: [null, dict] })).toBe(
      '{"prompt_logprobs":[null,{"13":{"logprob":-1.5,"rank":40},"7":{"logprob":-0.1,"rank":1}}]}',
    );
    expect(JSON.stringify({ 13: 1, 7: 2 })).toBe('{"7":2,"13":1}');
  });

  it('equals JSON.stringify on plain JSON values', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        expect(serializeJson(value)).toBe(JSON.stringify(value));
      }),
    );
  });
});
