import { createRandom } from '@fusechat/core';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { createModel } from '../model/create-model.js';
import { TEST_BACKENDS, useBackend } from '../testing/test-backends.js';
import { generate } from './generate.js';
import { generateBatch } from './generate-batch.js';
import { sampleToken } from './sample-token.js';

const config = {
  modelType: 'mistral',
  vocabSize: 40,
  hiddenSize: 32,
  intermediateSize: 48,
  numHiddenLayers: 2,
  numAttentionHeads: 4,
  numKeyValueHeads: 2,
  initializerRange: 0.5,
  slidingWindow: 6,
  eosTokenId: 39,
} as const;

async function greedyWithoutCache(
  model: ReturnType<typeof createModel>,
  prompt: number[],
  count: number,
): Promise<number[]> {
  const sequence = [...prompt];
  for (let i = 0; i < count; i++) {
    const logits = await model.logits([sequence], undefined, { output: 'array' });
    const last = logits[0]![sequence.length - 1]!;
    sequence.push(last.indexOf(Math.max(...last)));
  }
  return sequence.slice(prompt.length);
}

describe.each(TEST_BACKENDS)('generate (%s)', (backend) => {
  it('greedy KV-cache generation equals recomputing the whole sequence, past the sliding window', async () => {
    await useBackend(backend);
    const model = createModel(config, { seed: 4 });
    try {
      const prompt = [1, 7, 3, 12];
      const before = tf.memory().numTensors;
      const result = await generate(model, prompt, { maxNewTokens: 10, stopTokens: [] });
      expect(tf.memory().numTensors).toBe(before);
      expect(result.finishReason).toBe('length');
      expect(result.tokens).toEqual(await greedyWithoutCache(model, prompt, 10));
    } finally {
      model.dispose();
    }
  });

  it('stops at a stop token (included) and samples reproducibly from a seed', async () => {
    await useBackend(backend);
    const model = createModel(config, { seed: 5 });
    try {
      const greedy = await model.generate([2, 3], { maxNewTokens: 6, stopTokens: [] });
      const stopAt = greedy.tokens[2]!;
      const stopped = await model.generate([2, 3], { maxNewTokens: 6, stopTokens: [stopAt] });
      expect(stopped.finishReason).toBe('stop');
      expect(stopped.tokens).toEqual(greedy.tokens.slice(0, greedy.tokens.indexOf(stopAt) + 1));
      const a = await model.generate([2, 3], {
        maxNewTokens: 8,
        temperature: 1,
        topP: 0.9,
        seed: 9,
        stopTokens: [],
      });
      const b = await model.generate([2, 3], {
        maxNewTokens: 8,
        temperature: 1,
        topP: 0.9,
        seed: 9,
        stopTokens: [],
      });
      expect(a.tokens).toEqual(b.tokens);
    } finally {
      model.dispose();
    }
  });
});

describe('sampleToken', () => {
  const logits = [0.1, 3, 2.9, -1, 0.5];
  it('is argmax at temperature 0 and with a tiny topP or topK 1', () => {
    const random = createRandom(1);
    expect(sampleToken(logits, {}, random)).toBe(1);
    for (let i = 0; i < 50; i++) expect(sampleToken(logits, { temperature: 1, topP: 1e-6 }, random)).toBe(1);
    for (let i = 0; i < 50; i++) expect(sampleToken(logits, { temperature: 1, topK: 1 }, random)).toBe(1);
  });
  it('draws with softmax(logits / T) frequencies', () => {
    const random = createRandom(2);
    const counts = new Array(5).fill(0);
    for (let i = 0; i < 20000; i++) counts[sampleToken(logits, { temperature: 2 }, random)]++;
    const weights = logits.map((l) => Math.exp(l / 2));
    const total = weights.reduce((a, b) => a + b, 0);
    for (const [i, count] of counts.entries()) expect(count / 20000).toBeCloseTo(weights[i]! / total, 1);
  });
  it('topP keeps the smallest nucleus reaching p', () => {
    const random = createRandom(3);
    const seen = new Set<number>();
    for (let i = 0; i < 500; i++) seen.add(sampleToken(logits, { temperature: 1, topP: 0.6 }, random));
    expect([...seen].sort()).toEqual([1, 2]);
  });
});

describe.each(TEST_BACKENDS)('generateBatch (%s)', (backend) => {
  it('left-padded batch decoding equals decoding each prompt alone (greedy and seeded sampling)', async () => {
    await useBackend(backend);
    const model = createModel({ ...config, modelType: 'qwen2', slidingWindow: null }, { seed: 12 });
    try {
      const prompts = [[5, 9, 2, 30, 11], [7], [3, 3, 8]];
      const before = tf.memory().numTensors;
      const batch = await generateBatch(model, prompts, { maxNewTokens: 6, stopTokens: [] });
      expect(tf.memory().numTensors).toBe(before);
      for (const [i, prompt] of prompts.entries()) {
        expect(batch[i]!.tokens).toEqual(
          (await generate(model, prompt, { maxNewTokens: 6, stopTokens: [] })).tokens,
        );
      }
      const sampled = await generateBatch(model, prompts, {
        maxNewTokens: 4,
        temperature: 1,
        seed: 3,
        stopTokens: [],
      });
      const again = await generateBatch(model, prompts, {
        maxNewTokens: 4,
        temperature: 1,
        seed: 3,
        stopTokens: [],
      });
      expect(sampled).toEqual(again);
      const stopAt = batch[0]!.tokens[1]!;
      const stopped = await generateBatch(model, prompts, { maxNewTokens: 6, stopTokens: [stopAt] });
      expect(stopped[0]).toEqual({ tokens: batch[0]!.tokens.slice(0, 2), finishReason: 'stop' });
    } finally {
      model.dispose();
    }
  });
});

describe('generate with minNewTokens', () => {
  it('never draws a stop token in the first steps, then decodes greedily as before (argmax over the rest)', async () => {
    await useBackend('cpu');
    const model = createModel(config, { seed: 4 });
    try {
      const prompt = [1, 7, 3];
      const free = await generate(model, prompt, { maxNewTokens: 6, stopTokens: [] });
      // Make the first greedy token a stop token: without minNewTokens, generation ends at once.
      const stop = free.tokens[0]!;
      expect(await generate(model, prompt, { maxNewTokens: 6, stopTokens: [stop] })).toEqual({
        tokens: [stop],
        finishReason: 'stop',
      });
      const held = await generate(model, prompt, { maxNewTokens: 6, stopTokens: [stop], minNewTokens: 3 });
      // Reference: masked argmax decoding without a cache.
      const sequence = [...prompt];
      const expected: number[] = [];
      for (let step = 0; step < 6; step++) {
        const logits = (await model.logits([sequence], undefined, { output: 'array' }))[0]!.at(-1)!;
        if (step < 3) logits[stop] = Number.NEGATIVE_INFINITY;
        const token = logits.indexOf(Math.max(...logits));
        expected.push(token);
        sequence.push(token);
        if (token === stop) break;
      }
      expect(held.tokens).toEqual(expected);
      expect(held.tokens.slice(0, 3)).not.toContain(stop);
      // generateBatch holds every row the same way (here beside a row that needs no holding).
      const batched = await generateBatch(model, [prompt, [2, 5]], {
        maxNewTokens: 6,
        stopTokens: [stop],
        minNewTokens: 3,
      });
      expect(batched[0]).toEqual(held);
      expect(batched[1]!.tokens.slice(0, 3)).not.toContain(stop);
      await expect(generateBatch(model, [prompt], { minNewTokens: 1.5 })).rejects.toMatchObject({
        code: 'MODEL_INVALID_INPUT',
      });
      await expect(generate(model, prompt, { minNewTokens: -1 })).rejects.toMatchObject({
        code: 'MODEL_INVALID_INPUT',
      });
    } finally {
      model.dispose();
    }
  });
});

describe('non-finite weights are refused, not decoded', () => {
  it('generate, generateBatch and evaluatePerplexity name where NaN appeared', async () => {
    await useBackend('cpu');
    const model = createModel(config, { seed: 6 });
    try {
      const weight = model.weights.get('model.layers.1.mlp.down_proj.weight')!;
      const values = Float32Array.from(await weight.data());
      values[3] = Number.NaN;
      weight.assign(tf.tensor(values, weight.shape));
      await expect(generate(model, [1, 2, 3], { maxNewTokens: 4, stopTokens: [] })).rejects.toMatchObject({
        code: 'MODEL_NON_FINITE_LOGITS',
        details: { step: 1 },
      });
      await expect(
        generateBatch(model, [[1, 2], [3]], { maxNewTokens: 2, stopTokens: [] }),
      ).rejects.toMatchObject({
        code: 'MODEL_NON_FINITE_LOGITS',
      });
      const { evaluatePerplexity } = await import('../evaluation/evaluate-perplexity.js');
      await expect(evaluatePerplexity(model, [{ inputIds: [[1, 2, 3, 4]] }])).rejects.toMatchObject({
        code: 'MODEL_NON_FINITE_LOSS',
      });
    } finally {
      model.dispose();
    }
  });
});

describe.each(TEST_BACKENDS)('generate with repetition controls (%s)', (backend) => {
  /** transformers' processors written out independently: gather/scatter penalty, prefix dictionary ban, argmax. */
  async function greedyReference(
    model: ReturnType<typeof createModel>,
    prompt: number[],
    count: number,
    penalty: number,
    size: number,
  ): Promise<number[]> {
    const sequence = [...prompt];
    for (let step = 0; step < count; step++) {
      const rows = await model.logits([sequence], undefined, { output: 'array' });
      const scores = Float32Array.from(rows[0]![sequence.length - 1]!);
      const gathered = sequence.map((id) => scores[id]!);
      const p = Math.fround(penalty);
      sequence.forEach((id, i) => {
        scores[id] = gathered[i]! < 0 ? gathered[i]! * p : gathered[i]! / p;
      });
      const followers = new Map<string, number[]>();
      for (let i = 0; i + size <= sequence.length; i++) {
        const key = sequence.slice(i, i + size - 1).join(',');
        followers.set(key, [...(followers.get(key) ?? []), sequence[i + size - 1]!]);
      }
      for (const id of followers.get(sequence.slice(sequence.length + 1 - size).join(',')) ?? []) {
        scores[id] = Number.NEGATIVE_INFINITY;
      }
      let best = 0;
      for (let id = 1; id < scores.length; id++) if (scores[id]! > scores[best]!) best = id;
      sequence.push(best);
    }
    return sequence.slice(prompt.length);
  }

  function repeatedNgrams(tokens: readonly number[], size: number): number {
    const seen = new Set<string>();
    let repeats = 0;
    for (let i = 0; i + size <= tokens.length; i++) {
      const key = tokens.slice(i, i + size).join(',');
      if (seen.has(key)) repeats++;
      seen.add(key);
    }
    return repeats;
  }

  it('greedy decoding with repetitionPenalty and noRepeatNgramSize equals the reference, and never repeats an n-gram', async () => {
    await useBackend(backend);
    // A small vocabulary and a large init: plain greedy decoding loops here.
    const model = createModel({ ...config, vocabSize: 12, eosTokenId: 11 }, { seed: 21 });
    try {
      const prompt = [1, 4, 2];
      const plain = await generate(model, prompt, { maxNewTokens: 24, stopTokens: [] });
      expect(repeatedNgrams([...prompt, ...plain.tokens], 2)).toBeGreaterThan(0);
      const options = { maxNewTokens: 24, stopTokens: [], repetitionPenalty: 1.7, noRepeatNgramSize: 2 };
      const controlled = await generate(model, prompt, options);
      expect(controlled.tokens).toEqual(await greedyReference(model, prompt, 24, 1.7, 2));
      expect(repeatedNgrams([...prompt, ...controlled.tokens], 2)).toBe(0);
      const [batched] = await generateBatch(model, [prompt], options);
      expect(batched!.tokens).toEqual(controlled.tokens);
    } finally {
      model.dispose();
    }
  });

  it('refuses a bad penalty before running the model', async () => {
    await useBackend(backend);
    const model = createModel(config, { seed: 1 });
    try {
      await expect(generate(model, [1], { repetitionPenalty: 0 })).rejects.toThrow(/repetitionPenalty/);
      await expect(generateBatch(model, [[1]], { noRepeatNgramSize: -2 })).rejects.toThrow(
        /noRepeatNgramSize/,
      );
    } finally {
      model.dispose();
    }
  });
});
