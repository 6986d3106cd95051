import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import type { ProviderOutput } from '../logits-provider.js';
import {
  fakeTokenizer,
  referenceOutputs,
  sequencesOfLengths,
  TINY_LLAMA,
  TINY_QWEN2_TIED,
  tinyModel,
} from '../testing/fixtures.js';
import { TEST_BACKENDS, useBackend } from '../testing/test-backends.js';
import { createLocalProvider } from './create-local-provider.js';

const K = 5;

function expectClose(actual: ProviderOutput, expected: ProviderOutput, tolerance: number): void {
  expect(actual.topK.ids).toEqual(expected.topK.ids);
  for (let i = 0; i < actual.topK.logits.length; i++)
    expect(Math.abs(actual.topK.logits[i]! - expected.topK.logits[i]!)).toBeLessThan(tolerance);
  for (let t = 0; t < actual.nextTokenLogProbs.length - 1; t++)
    expect(Math.abs(actual.nextTokenLogProbs[t]! - expected.nextTokenLogProbs[t]!)).toBeLessThan(tolerance);
  expect(actual.nextTokenLogProbs.at(-1)).toBeNaN();
}

describe.each(TEST_BACKENDS)('createLocalProvider (%s)', (backend) => {
  it.each([
    ['llama untied', TINY_LLAMA],
    ['qwen2 tied', TINY_QWEN2_TIED],
  ] as const)(
    'top-k and next-token log-probs equal a float64 reference from the full logits (%s)',
    async (_, input) => {
      await useBackend(backend);
      const model = tinyModel(input);
      const vocab = model.config.vocabSize;
      try {
        const provider = createLocalProvider(model, fakeTokenizer(vocab), {
          batchTokens: 24,
          logitsBudgetBytes: 4000,
        });
        const sequences = sequencesOfLengths([7, 1, 12, 3, 7, 9], vocab);
        const outputs = await provider.topK(sequences, { k: K });
        expect(outputs).toHaveLength(sequences.length);
        for (const [s, sequence] of sequences.entries()) {
          const reference = await referenceOutputs(model, sequence, K);
          const output = outputs[s]!;
          expect(output.nonFinite).toBe(false);
          expect(output.topK.length).toBe(sequence.length);
          expect(output.topK.k).toBe(K);
          expect(Array.from(output.topK.ids)).toEqual(reference.ids.flat());
          for (const [i, value] of reference.values.flat().entries())
            expect(output.topK.logits[i]).toBeCloseTo(value, 4);
          reference.nextTokenLogProbs.forEach((value, t) => {
            if (Number.isNaN(value)) expect(output.nextTokenLogProbs[t]).toBeNaN();
            else expect(output.nextTokenLogProbs[t]).toBeCloseTo(value, 4);
          });
        }
      } finally {
        model.dispose();
      }
    },
  );

  it('with ranks: the log-sum-exp and the rank of the actual token over the full vocabulary equal a float64 reference', async () => {
    await useBackend(backend);
    const model = tinyModel(TINY_LLAMA, 5);
    const vocab = model.config.vocabSize;
    try {
      // 61 × 4 × 5 = 1220 bytes per position with ranks: two positions per chunk.
      const provider = createLocalProvider(model, fakeTokenizer(vocab), { logitsBudgetBytes: 2 * 1220 });
      const sequences = sequencesOfLengths([6, 1, 9], vocab, 2);
      const outputs = await provider.topK(sequences, { k: 3, ranks: true });
      for (const [s, sequence] of sequences.entries()) {
        const [rows] = await model.logits([Array.from(sequence)], undefined, { output: 'array' });
        const output = outputs[s]!;
        rows!.forEach((row, t) => {
          const max = Math.max(...row);
          const logSumExp = max + Math.log(row.reduce((sum, z) => sum + Math.exp(z - max), 0));
          expect(output.logSumExp[t]).toBeCloseTo(logSumExp, 4);
          if (t + 1 < sequence.length) {
            const actual = row[sequence[t + 1]!]!;
            expect(output.nextTokenRanks![t]).toBe(1 + row.filter((z) => z > actual).length);
          } else {
            expect(output.nextTokenRanks![t]).toBe(0);
          }
        });
      }
      const [plain] = await provider.topK([sequences[0]!], { k: 3 });
      expect(plain!.nextTokenRanks).toBeUndefined();
      expect(Array.from(plain!.logSumExp)).toEqual(Array.from(outputs[0]!.logSumExp));
    } finally {
      model.dispose();
    }
  });

  it('gives a sequence the same output alone and in a padded batch', async () => {
    await useBackend(backend);
    const model = tinyModel(TINY_QWEN2_TIED);
    try {
      const sequences = sequencesOfLengths([5, 11, 8, 2, 11, 6], model.config.vocabSize, 3);
      const batched = await createLocalProvider(model, fakeTokenizer(67), { batchTokens: 64 }).topK(
        sequences,
        {
          k: K,
        },
      );
      const alone = createLocalProvider(model, fakeTokenizer(67), { batchTokens: 1 });
      for (const [s, sequence] of sequences.entries()) {
        const [single] = await alone.topK([sequence], { k: K });
        expectClose(batched[s]!, single!, 1e-5);
      }
    } finally {
      model.dispose();
    }
  });

  it('gives the same output whatever the chunk of positions the output projection sees', async () => {
    await useBackend(backend);
    const model = tinyModel(TINY_LLAMA, 11);
    try {
      const sequences = sequencesOfLengths([9, 4, 13], 61, 1);
      const tokenizer = fakeTokenizer(61);
      const whole = await createLocalProvider(model, tokenizer).topK(sequences, { k: K });
      // 61 × 4 × 3 = 732 bytes per position: one position, then five per chunk.
      for (const logitsBudgetBytes of [1, 5 * 732]) {
        const chunked = await createLocalProvider(model, tokenizer, { logitsBudgetBytes }).topK(sequences, {
          k: K,
        });
        for (const [s, output] of chunked.entries()) expectClose(output, whole[s]!, 1e-6);
      }
    } finally {
      model.dispose();
    }
  });

  it('reports non-finite logits per sequence instead of throwing, and frees what it creates', async () => {
    await useBackend(backend);
    const model = tinyModel(TINY_LLAMA);
    try {
      const provider = createLocalProvider(model, fakeTokenizer(61), { batchTokens: 16 });
      const sequences = sequencesOfLengths([4, 6, 3], 61);
      const before = tf.memory().numTensors;
      await provider.topK(sequences, { k: K });
      await provider.topK(sequences, { k: 1 });
      expect(tf.memory().numTensors).toBe(before);

      // A NaN in one embedding row poisons exactly the sequences that contain that token.
      const embedding = model.weights.get('model.embed_tokens.weight')!;
      const original = embedding.clone();
      const poisoned = (await embedding.array()) as number[][];
      poisoned[sequences[1]![2]!]![0] = Number.NaN;
      const poisonedTensor = tf.tensor2d(poisoned);
      embedding.assign(poisonedTensor);
      poisonedTensor.dispose();
      const outputs = await provider.topK(sequences, { k: K });
      const contains = sequences.map((sequence) => sequence.includes(sequences[1]![2]!));
      expect(outputs.map((output) => output.nonFinite)).toEqual(contains);
      expect(contains).toContain(false);
      embedding.assign(original);
      original.dispose();
      expect(tf.memory().numTensors).toBe(before);
    } finally {
      model.dispose();
    }
  });
});

describe('createLocalProvider memory', () => {
  it('never holds the [time, vocab] logits of a long sequence: peak memory follows logitsBudgetBytes', async () => {
    await useBackend('cpu');
    const vocab = 4096;
    const model = tinyModel({ ...TINY_LLAMA, vocabSize: vocab }, 3);
    try {
      const [sequence] = sequencesOfLengths([320], vocab);
      const fullLogitsBytes = 320 * vocab * 4; // 5 MiB
      const peakAbove = async (run: () => Promise<unknown>) => {
        const start = tf.memory().numBytes;
        const profile = await tf.profile(async () => {
          await run();
          return [];
        });
        return profile.peakBytes - start;
      };
      // What the network alone needs (attention scores dominate at 320 tokens).
      const network = await peakAbove(async () =>
        tf.dispose(tf.tidy(() => model.hiddenStates([Array.from(sequence!)]))),
      );
      const budget = 64 * 1024;
      const chunked = await peakAbove(() =>
        createLocalProvider(model, fakeTokenizer(vocab), { logitsBudgetBytes: budget }).topK([sequence!], {
          k: 10,
        }),
      );
      const headBytes = vocab * 32 * 4; // the transposed output projection
      expect(chunked).toBeLessThan(network + headBytes + 4 * budget);
      const unchunked = await peakAbove(() =>
        createLocalProvider(model, fakeTokenizer(vocab), { logitsBudgetBytes: 4 * fullLogitsBytes }).topK(
          [sequence!],
          { k: 10 },
        ),
      );
      // Unchunked, the logits and their softmax exist at once, outgrowing the network's own peak.
      expect(unchunked).toBeGreaterThan(1.5 * fullLogitsBytes);
      expect(unchunked).toBeGreaterThan(chunked + fullLogitsBytes / 2);
    } finally {
      model.dispose();
    }
  });
});

describe('createLocalProvider validation', () => {
  it('refuses bad options and inputs with CAPTURE_ codes before any work', async () => {
    await useBackend('cpu');
    const model = tinyModel(TINY_LLAMA);
    try {
      const tokenizer = fakeTokenizer(61);
      expect(() => createLocalProvider(model, tokenizer, { batchTokens: 0 })).toThrow(
        expect.objectContaining({ code: 'CAPTURE_INVALID_OPTIONS', field: 'batchTokens' }),
      );
      const provider = createLocalProvider(model, tokenizer);
      expect(provider.valueKind).toBe('logits');
      expect(provider.id).toMatch(/^local:[0-9a-f]{64}$/);
      await expect(provider.topK([Int32Array.from([1, 2])], { k: 62 })).rejects.toMatchObject({
        code: 'CAPTURE_INVALID_INPUT',
        field: 'k',
      });
      await expect(provider.topK([Int32Array.from([1, 61])], { k: 3 })).rejects.toMatchObject({
        code: 'CAPTURE_INVALID_INPUT',
        field: 'sequences[0][1]',
      });
      await expect(provider.topK([new Int32Array(0)], { k: 3 })).rejects.toMatchObject({
        code: 'CAPTURE_INVALID_INPUT',
      });
      expect(await provider.topK([], { k: 3 })).toEqual([]);
    } finally {
      model.dispose();
    }
  });
});
