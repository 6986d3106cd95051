import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createModel } from '../model/create-model.js';
import { relativeError } from '../testing/reference-llama.js';
import { useBackend } from '../testing/test-backends.js';
import { createAttentionLayout } from './attention-layout.js';

describe('padding invariance (property)', () => {
  it('position ids of the real tokens are 0…n−1 whatever the padding', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.boolean(), { minLength: 1, maxLength: 12 }), { minLength: 1, maxLength: 4 }),
        (rows) => {
          const time = rows[0]!.length;
          const mask = rows.map((row) =>
            Array.from({ length: time }, (_, t) => (row[t % row.length] ? 1 : 0)),
          );
          const layout = createAttentionLayout({ batch: mask.length, queryLength: time, keyMask: mask });
          mask.forEach((row, b) => {
            const real = row.flatMap((value, t) => (value ? [layout.positionIds[b * time + t]!] : []));
            expect(real).toEqual(real.map((_, i) => i));
          });
        },
      ),
    );
  });

  it('left and right padding never change the logits of the real tokens', async () => {
    await useBackend('cpu');
    const model = createModel(
      {
        modelType: 'llama',
        vocabSize: 40,
        hiddenSize: 16,
        intermediateSize: 24,
        numHiddenLayers: 2,
        numAttentionHeads: 4,
        numKeyValueHeads: 2,
        initializerRange: 0.5,
      },
      { seed: 9 },
    );
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.integer({ min: 0, max: 39 }), { minLength: 1, maxLength: 6 }),
          fc.nat(3),
          fc.nat(3),
          async (tokens, left, right) => {
            const ids = [[...new Array(left).fill(0), ...tokens, ...new Array(right).fill(0)]];
            const mask = [ids[0]!.map((_, t) => (t >= left && t < left + tokens.length ? 1 : 0))];
            const alone = await model.logits([tokens], undefined, { output: 'array' });
            const padded = await model.logits(ids, mask, { output: 'array' });
            expect(relativeError([padded[0]!.slice(left, left + tokens.length)], alone)).toBeLessThan(1e-5);
          },
        ),
        { numRuns: 25 },
      );
    } finally {
      model.dispose();
    }
  });
});
