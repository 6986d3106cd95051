// Test fixtures: tiny deterministic models, a stand-in tokenizer and float64 references.
import type { TokenizerLike } from '@fusechat/core';
import { type CausalLM, createModel, type ModelConfigInput } from '@fusechat/model';

export const TINY_LLAMA: ModelConfigInput = {
  modelType: 'llama',
  vocabSize: 61,
  hiddenSize: 32,
  intermediateSize: 48,
  numHiddenLayers: 2,
  numAttentionHeads: 4,
  numKeyValueHeads: 2,
  initializerRange: 0.2,
};

export const TINY_QWEN2_TIED: ModelConfigInput = {
  ...TINY_LLAMA,
  modelType: 'qwen2',
  vocabSize: 67,
  tieWordEmbeddings: true,
};

export function tinyModel(input: ModelConfigInput = TINY_LLAMA, seed = 7): CausalLM {
  return createModel(input, { seed });
}

/** A tokenizer stand-in over `vocabSize` ids (capture only reads its fields). */
export function fakeTokenizer(vocabSize: number): TokenizerLike {
  return {
    vocabSize,
    specialTokens: { bos: 1, eos: 2 },
    spaceMarker: 'sentencepiece',
    hash: `fake-${vocabSize}`,
    encode: (text) => Array.from(text, (c) => c.charCodeAt(0) % vocabSize),
    decode: (ids) => ids.join(' '),
    idToToken: (id) => (id >= 0 && id < vocabSize ? `t${id}` : undefined),
    tokenToId: (token) => (/^t\d+$/.test(token) ? Number(token.slice(1)) : undefined),
  };
}

/** Deterministic pseudo-random token sequences of the given lengths. */
export function sequencesOfLengths(lengths: readonly number[], vocabSize: number, salt = 0): Int32Array[] {
  return lengths.map((length, s) =>
    Int32Array.from({ length }, (_, t) => (s * 31 + t * 17 + salt * 7 + ((s * t) % 5)) % vocabSize),
  );
}

/** Float64 reference of one sequence from the full logits: log-softmax rows, sorted top-k. */
export async function referenceOutputs(
  model: CausalLM,
  sequence: Int32Array,
  k: number,
): Promise<{ ids: number[][]; values: number[][]; nextTokenLogProbs: number[] }> {
  const [rows] = await model.logits([Array.from(sequence)], undefined, { output: 'array' });
  const ids: number[][] = [];
  const values: number[][] = [];
  const nextTokenLogProbs: number[] = [];
  rows!.forEach((row, t) => {
    const logits = row.map(Number);
    const max = Math.max(...logits);
    const normaliser = max + Math.log(logits.reduce((sum, z) => sum + Math.exp(z - max), 0));
    const order = logits.map((_, v) => v).sort((a, b) => logits[b]! - logits[a]! || a - b);
    ids.push(order.slice(0, k));
    values.push(order.slice(0, k).map((v) => logits[v]!));
    nextTokenLogProbs.push(t + 1 < sequence.length ? logits[sequence[t + 1]!]! - normaliser : Number.NaN);
  });
  return { ids, values, nextTokenLogProbs };
}

/** Capture inputs: pseudo-random sequences of the given lengths, the second half of each supervised. */
export function captureExamples(
  lengths: readonly number[],
  vocabSize: number,
): { id: string; inputIds: Int32Array; labelMask: Uint8Array }[] {
  return sequencesOfLengths(lengths, vocabSize).map((inputIds, index) => ({
    id: `example-${index}`,
    inputIds,
    labelMask: Uint8Array.from(inputIds, (_, t) => (t >= inputIds.length / 2 ? 1 : 0)),
  }));
}

/** A store identity for tests over a model with `vocabSize` ids. */
export function captureIdentity(vocabSize: number, k: number) {
  return {
    model: { name: 'tiny', configHash: 'tiny-config' },
    tokenizer: { hash: `fake-${vocabSize}`, vocabSize },
    data: { hash: 'test-data' },
    chatTemplateHash: null,
    capture: { k, maxLength: null, truncation: null, valueKind: 'logits' },
  };
}

/** 23 examples of 1..14 tokens: several windows and shards with the small settings below. */
export const CAPTURE_LENGTHS = Array.from({ length: 23 }, (_, i) => 1 + ((i * 5) % 14));

/** Capture settings of the resume tests: small windows, blocks and shards, so 23 examples commit often. */
export const CAPTURE_SETTINGS = {
  k: 4,
  identity: captureIdentity(TINY_LLAMA.vocabSize, 4),
  batchTokens: 30,
  store: { blockExamples: 2, shardTargetBytes: 300 },
};
