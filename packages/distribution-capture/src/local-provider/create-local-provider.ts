import { createHash } from 'node:crypto';
import { basename } from 'node:path';
import { InvalidInputError, type TokenizerLike } from '@fusechat/core';
import type { CausalLM, PreparedProjection } from '@fusechat/model';
import * as tf from '@tensorflow/tfjs-core';
import type { LogitsProvider, ProviderOutput } from '../logits-provider.js';
import { planLengthBatches } from '../plan-length-batches.js';

/** Options of {@link createLocalProvider}. */
export interface LocalProviderOptions {
  /**
   * Padded tokens (rows × longest sequence) per forward pass; default 4096. Sequences are sorted
   * by length within a `topK` call, so padding stays small. Bounds the activations (attention
   * scores take `rows × heads × time² × 4` bytes).
   */
  readonly batchTokens?: number | undefined;
  /**
   * Bytes of one chunk of logits and its temporaries (softmax): the output projection is
   * applied to `⌊logitsBudgetBytes / (vocab × 4 × 3)⌋` positions at a time (at least one), so
   * `[batch, time, vocab]` never exists. Default 256 MiB (≈ 147 positions of a 152k vocabulary).
   * With `ranks: true` the comparison pass adds two temporaries: `× 5` instead of `× 3`.
   */
  readonly logitsBudgetBytes?: number | undefined;
  /** Provider id (default: `local:` + SHA-256 of the model's config as `config.json`). */
  readonly id?: string | undefined;
  /** Provider name (default: the model directory's name, else its `model_type`). */
  readonly name?: string | undefined;
}

/**
 * What the local provider returns per sequence: a {@link ProviderOutput} plus what a server
 * needs to report log-probabilities (`logits − logSumExp`) and ranks over the full vocabulary.
 */
export interface LocalProviderOutput extends ProviderOutput {
  /** Per position: `logsumexp` of the full-vocabulary logits, so `topK.logits − logSumExp` are log-probabilities. */
  readonly logSumExp: Float32Array;
  /**
   * Only with `ranks: true`: per position `t < T − 1`, the rank of the actual next token over the
   * full vocabulary, `1 + #{v : z_v > z_actual}` (1 = best). vLLM's `batched_count_greater_than`
   * (vllm/v1/sample/ops/logprobs.py) counts `z_v ≥ z_actual`: the same unless another logit ties
   * it exactly. 0 at the last position (NaN logits give 0 too).
   */
  readonly nextTokenRanks?: Int32Array | undefined;
}

/** Options of {@link LocalLogitsProvider.topK}. */
export interface LocalTopKOptions {
  readonly k: number;
  /** Also count the actual next token's rank over the full vocabulary (one comparison pass per chunk). */
  readonly ranks?: boolean | undefined;
}

/** The {@link LogitsProvider} {@link createLocalProvider} returns, with its richer outputs. */
export interface LocalLogitsProvider extends LogitsProvider {
  topK(sequences: readonly Int32Array[], options: LocalTopKOptions): Promise<LocalProviderOutput[]>;
}

const DEFAULT_BATCH_TOKENS = 4096;
const DEFAULT_LOGITS_BUDGET = 256 * 1024 ** 2;

/**
 * A {@link LogitsProvider} over a local {@link CausalLM}: teacher-forced forward passes in
 * length-bucketed batches, the final hidden states computed once per batch, then the output
 * projection applied to chunks of positions; per chunk the top-k (values and ids) and the
 * full-vocabulary log-softmax at the gold next token are taken **on the backend**, so only
 * `k + 2` numbers (top-k, the gold log-probability, the log-sum-exp) and `k` ids per position
 * are read back; with `topK(…, { ranks: true })` also the gold token's rank over the full
 * vocabulary (what `fusechat serve` reports as vLLM's `prompt_logprobs`). Values are logits
 * (`valueKind: 'logits'`).
 *
 * Non-finite logits (NaN weights, overflow) do not throw: the sequence's output has
 * `nonFinite: true`. The model stays owned by the caller; the provider holds no tensors between
 * calls. Padding positions are never projected.
 *
 * @throws InvalidInputError `CAPTURE_INVALID_OPTIONS` for a bad option,
 *   `CAPTURE_UNSUPPORTED_MODEL` when the architecture has no `hiddenStates`/`outputProjection`;
 *   from `topK`: `CAPTURE_INVALID_INPUT` for an empty sequence, a token id outside the model's
 *   vocabulary or a `k` outside [1, vocab].
 *
 * @example
 * ```ts
 * const model = await loadModel('models/Qwen2.5-0.5B-Instruct');
 * const tokenizer = await loadTokenizer('models/Qwen2.5-0.5B-Instruct');
 * const provider = createLocalProvider(model, tokenizer, { batchTokens: 4096 });
 * const outputs = await provider.topK([Int32Array.from(tokenizer.encode('Hello there'))], { k: 10 });
 * outputs[0].topK.logits; // [length × 10] logits, best first per row
 * ```
 */
export function createLocalProvider(
  model: CausalLM,
  tokenizer: TokenizerLike,
  options: LocalProviderOptions = {},
): LocalLogitsProvider {
  const batchTokens = positiveInteger(options.batchTokens ?? DEFAULT_BATCH_TOKENS, 'batchTokens');
  const budget = positiveInteger(options.logitsBudgetBytes ?? DEFAULT_LOGITS_BUDGET, 'logitsBudgetBytes');
  const { architecture, config } = model;
  if (architecture.hiddenStates === undefined || architecture.outputProjection === undefined) {
    throw new InvalidInputError(
      `The ${architecture.modelType} architecture implements no hiddenStates/outputProjection, which local capture needs (see @fusechat/model's "Adding an architecture").`,
      { code: 'CAPTURE_UNSUPPORTED_MODEL', details: { modelType: architecture.modelType } },
    );
  }
  const vocab = config.vocabSize;
  const rowsPerChunk = Math.max(1, Math.floor(budget / (vocab * 4 * 3)));
  const id =
    options.id ??
    `local:${createHash('sha256')
      .update(JSON.stringify(architecture.toHfConfig(config)))
      .digest('hex')}`;
  const name =
    options.name ??
    (model.sourceDirectory !== undefined ? basename(model.sourceDirectory) : config.modelType);

  const runBatch = async (
    sequences: readonly Int32Array[],
    time: number,
    k: number,
    head: PreparedProjection,
    withRanks: boolean,
  ): Promise<LocalProviderOutput[]> => {
    const rows = sequences.length;
    const positions = sequences.reduce((sum, sequence) => sum + sequence.length, 0);
    const ids = new Int32Array(rows * time);
    const mask: number[][] = [];
    const realRows = new Int32Array(positions);
    const gold = new Int32Array(positions);
    let n = 0;
    sequences.forEach((sequence, row) => {
      ids.set(sequence, row * time);
      const maskRow = new Array<number>(time).fill(0);
      for (let t = 0; t < sequence.length; t++) {
        maskRow[t] = 1;
        realRows[n] = row * time + t;
        // The last position has no gold token: any valid id serves the NaN check below.
        gold[n] = t + 1 < sequence.length ? sequence[t + 1]! : 0;
        n++;
      }
      mask.push(maskRow);
    });
    const values = new Float32Array(positions * k);
    const topIds = new Int32Array(positions * k);
    const logProbs = new Float32Array(positions);
    const normalisers = new Float32Array(positions);
    const ranks = withRanks ? new Int32Array(positions) : undefined;
    // Right padding: real tokens keep positions 0..len−1; pads are masked out and never projected.
    const hidden = tf.tidy(() => {
      const states = model.hiddenStates(tf.tensor2d(ids, [rows, time], 'int32'), { attentionMask: mask });
      const flat = tf.reshape(states, [rows * time, config.hiddenSize]) as tf.Tensor2D;
      return positions === rows * time ? flat : tf.gather(flat, tf.tensor1d(realRows, 'int32'));
    });
    try {
      const chunkRows = withRanks ? Math.max(1, Math.floor(budget / (vocab * 4 * 5))) : rowsPerChunk;
      for (let start = 0; start < positions; start += chunkRows) {
        const size = Math.min(chunkRows, positions - start);
        const pairs = new Int32Array(size * 2);
        const rowIndices = new Int32Array(size);
        for (let i = 0; i < size; i++) {
          pairs[2 * i] = i;
          pairs[2 * i + 1] = gold[start + i]!;
          rowIndices[i] = i;
        }
        const [scores, indices, goldRanks] = tf.tidy(() => {
          const logits = head.apply(tf.slice(hidden, [start, 0], [size, -1]));
          const top = tf.topk(logits, k, true);
          // logsumexp(z) = z_max − log softmax(z)_max. Why not tf.logSumExp: on wasm its Exp runs
          // ≈ 4× slower than the fused Softmax kernel (410 vs 106 µs per 32k row). softmax at the
          // argmax is ≥ 1/vocab, so its log is accurate to float32 rounding; NaN/Inf rows give NaN.
          const best = tf.slice(top.values, [0, 0], [size, 1]);
          const argmax = tf.concat(
            [tf.tensor2d(rowIndices, [size, 1], 'int32'), tf.slice(top.indices, [0, 0], [size, 1])],
            1,
          );
          const bestProbability = tf.reshape(tf.gatherND(tf.softmax(logits), argmax), [size, 1]);
          const normaliser = tf.sub(best, tf.log(bestProbability));
          const goldLogits = tf.reshape(tf.gatherND(logits, tf.tensor2d(pairs, [size, 2], 'int32')), [
            size,
            1,
          ]);
          const scores = tf.concat([top.values, tf.sub(goldLogits, normaliser), normaliser], 1);
          // 1 + #{z > z_actual} as step(z − z_actual) summed in float32 (exact below 2^24
          // entries): on wasm a broadcast greaterEqual runs ≈ 60× slower than sub + step + sum.
          if (!withRanks) return [scores, top.indices];
          const rank = tf.add(tf.sum(tf.step(tf.sub(logits, goldLogits)), 1), 1);
          return [scores, top.indices, rank];
        }) as [tf.Tensor, tf.Tensor, tf.Tensor?];
        try {
          // Capture asks for no ranks: nothing is computed or read back for them then.
          const [scoreData, indexData, rankData] = (await Promise.all([
            scores.data(),
            indices.data(),
            goldRanks?.data(),
          ])) as [Float32Array, Int32Array, Float32Array | undefined];
          topIds.set(indexData, start * k);
          const width = k + 2;
          for (let i = 0; i < size; i++) {
            values.set(scoreData.subarray(i * width, i * width + k), (start + i) * k);
            logProbs[start + i] = scoreData[i * width + k]!;
            normalisers[start + i] = scoreData[i * width + k + 1]!;
          }
          if (ranks !== undefined && rankData !== undefined)
            for (let i = 0; i < size; i++) ranks[start + i] = Math.round(rankData[i]!);
        } finally {
          scores.dispose();
          indices.dispose();
          goldRanks?.dispose();
        }
      }
    } finally {
      hidden.dispose();
    }

    const outputs: LocalProviderOutput[] = [];
    let offset = 0;
    for (const sequence of sequences) {
      const length = sequence.length;
      const rowValues = values.slice(offset * k, (offset + length) * k);
      const nextTokenLogProbs = logProbs.slice(offset, offset + length);
      // Top-k misses a NaN logit (comparisons with NaN are false); the softmax does not.
      let nonFinite = nextTokenLogProbs.some(Number.isNaN);
      for (let i = 0; i < rowValues.length && !nonFinite; i++) nonFinite = !Number.isFinite(rowValues[i]!);
      nextTokenLogProbs[length - 1] = Number.NaN;
      const nextTokenRanks = ranks?.slice(offset, offset + length);
      if (nextTokenRanks !== undefined) nextTokenRanks[length - 1] = 0;
      outputs.push({
        topK: { length, k, ids: topIds.slice(offset * k, (offset + length) * k), logits: rowValues },
        nextTokenLogProbs,
        logSumExp: normalisers.slice(offset, offset + length),
        nextTokenRanks,
        nonFinite,
      });
      offset += length;
    }
    return outputs;
  };

  return {
    id,
    name,
    tokenizer,
    valueKind: 'logits',
    maxSequenceLength: config.maxPositionEmbeddings,
    async topK(sequences, { k, ranks = false }) {
      if (!Number.isInteger(k) || k < 1 || k > vocab) {
        throw new InvalidInputError(
          `k must be an integer in [1, ${vocab}] (the model's vocabulary), got ${k}.`,
          {
            code: 'CAPTURE_INVALID_INPUT',
            field: 'k',
          },
        );
      }
      for (const [index, sequence] of sequences.entries()) checkSequence(sequence, index, vocab);
      const outputs = new Array<LocalProviderOutput>(sequences.length);
      if (sequences.length === 0) return outputs;
      const head = model.outputProjection();
      try {
        const lengths = sequences.map((sequence) => sequence.length);
        for (const batch of planLengthBatches(lengths, { batchTokens })) {
          const batchOutputs = await runBatch(
            batch.indices.map((index) => sequences[index]!),
            batch.time,
            k,
            head,
            ranks,
          );
          batch.indices.forEach((index, row) => {
            outputs[index] = batchOutputs[row]!;
          });
        }
      } finally {
        head.dispose();
      }
      return outputs;
    },
  };
}

function checkSequence(sequence: Int32Array, index: number, vocab: number): void {
  if (!(sequence instanceof Int32Array) || sequence.length === 0) {
    throw new InvalidInputError(`sequences[${index}] must be a non-empty Int32Array of token ids.`, {
      code: 'CAPTURE_INVALID_INPUT',
      field: `sequences[${index}]`,
    });
  }
  for (let t = 0; t < sequence.length; t++) {
    const id = sequence[t]!;
    if (id < 0 || id >= vocab) {
      throw new InvalidInputError(
        `sequences[${index}][${t}] = ${id} is not a token id of the model (vocabulary ${vocab}); was the data tokenised with another tokenizer?`,
        { code: 'CAPTURE_INVALID_INPUT', field: `sequences[${index}][${t}]` },
      );
    }
  }
}

function positiveInteger(value: number, field: string): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new InvalidInputError(`${field} must be a positive integer, got ${value}.`, {
      code: 'CAPTURE_INVALID_OPTIONS',
      field,
    });
  }
  return value;
}
