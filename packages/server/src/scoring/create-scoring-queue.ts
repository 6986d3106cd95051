import type { TokenizerLike } from '@fusechat/core';
import { createLocalProvider } from '@fusechat/distribution-capture';
import type { CausalLM } from '@fusechat/model';

/**
 * Teacher-forced log-probabilities of one token sequence of length `T`: row `t` is the
 * distribution position `t` predicts for token `t + 1`.
 */
export interface ScoredSequence {
  readonly length: number;
  readonly k: number;
  /** `[T × k]` token ids, best first per row. */
  readonly ids: Int32Array;
  /** `[T × k]` log-probabilities over the full vocabulary (log-softmax), matching `ids`. */
  readonly logProbs: Float32Array;
  /** Per `t < T − 1`: `log p(sequence[t + 1] | sequence[..t])`; NaN at `T − 1`. */
  readonly nextTokenLogProbs: Float32Array;
  /** Per `t < T − 1`: the rank of `sequence[t + 1]` over the full vocabulary (1 = best); 0 at `T − 1`. */
  readonly nextTokenRanks: Int32Array;
}

/** Options of {@link createScoringQueue}. */
export interface ScoringQueueOptions {
  /** How long the first request of a batch waits for others (ms, default 2). 0 still gathers what arrives in the same tick. */
  readonly windowMs?: number | undefined;
  /** Tokens (sum of lengths) per batch at most (default 8192); a longer single sequence runs alone. */
  readonly maxBatchTokens?: number | undefined;
  /** Padded tokens per forward pass (the local provider's `batchTokens`, default 4096). */
  readonly batchTokens?: number | undefined;
  /** Bytes of one chunk of logits (the local provider's `logitsBudgetBytes`). */
  readonly logitsBudgetBytes?: number | undefined;
}

/** A queue that scores sequences, batching the requests of concurrent clients. */
export interface ScoringQueue {
  /** Scores `sequence` with the top `k` (≥ 1) per position. */
  score(sequence: readonly number[], k: number): Promise<ScoredSequence>;
  /** Forward passes run so far (a batch of concurrent requests counts once). */
  readonly batchesRun: number;
}

interface Pending {
  readonly sequence: Int32Array;
  readonly k: number;
  resolve(scored: ScoredSequence): void;
  reject(error: unknown): void;
}

/**
 * Batches prompt-scoring requests across clients: the first request opens a short window, every
 * request arriving in it joins the batch, and the batch runs as one call of the local provider
 * (`createLocalProvider` of `@fusechat/distribution-capture`: hidden states once, the output
 * projection in chunks under a byte budget, top-k, log-sum-exp and ranks on the backend — never
 * `[B, T, V]` at once) with the largest `k` asked; each request gets its own first `k` entries.
 * Batches run one at a time, in arrival order; requests arriving while one runs form the next.
 *
 * @example
 * ```ts
 * const queue = createScoringQueue(model, tokenizer, { windowMs: 2 });
 * const scored = await queue.score([1, 306, 4658], 5);
 * scored.nextTokenRanks[0]; // rank of 306 after [1]
 * ```
 */
export function createScoringQueue(
  model: CausalLM,
  tokenizer: TokenizerLike,
  options: ScoringQueueOptions = {},
): ScoringQueue {
  const provider = createLocalProvider(model, tokenizer, {
    batchTokens: options.batchTokens,
    logitsBudgetBytes: options.logitsBudgetBytes,
  });
  const windowMs = options.windowMs ?? 2;
  const maxBatchTokens = options.maxBatchTokens ?? 8192;
  const waiting: Pending[] = [];
  let busy = false;
  let batchesRun = 0;

  const runBatch = async (batch: Pending[]): Promise<void> => {
    const k = Math.max(...batch.map((pending) => pending.k));
    try {
      const outputs = await provider.topK(
        batch.map((pending) => pending.sequence),
        { k, ranks: true },
      );
      batchesRun++;
      for (const [index, pending] of batch.entries()) pending.resolve(toScored(outputs[index]!, pending.k));
    } catch (error) {
      for (const pending of batch) pending.reject(error);
    }
  };

  // One batch at a time: requests that arrive while a batch runs wait for it and then go
  // together (under load the batch grows with the load, not with the window).
  const pump = (): void => {
    if (busy || waiting.length === 0) return;
    busy = true;
    setTimeout(() => {
      let tokens = 0;
      let count = 0;
      while (
        count < waiting.length &&
        (count === 0 || tokens + waiting[count]!.sequence.length <= maxBatchTokens)
      ) {
        tokens += waiting[count]!.sequence.length;
        count++;
      }
      const batch = waiting.splice(0, count);
      void runBatch(batch).finally(() => {
        busy = false;
        pump();
      });
    }, windowMs);
  };

  return {
    score(sequence, k) {
      return new Promise<ScoredSequence>((resolve, reject) => {
        waiting.push({ sequence: Int32Array.from(sequence), k, resolve, reject });
        pump();
      });
    },
    get batchesRun() {
      return batchesRun;
    },
  };
}

function toScored(
  output: Awaited<ReturnType<ReturnType<typeof createLocalProvider>['topK']>>[number],
  k: number,
): ScoredSequence {
  const { length, k: width, ids, logits } = output.topK;
  const outIds = new Int32Array(length * k);
  const logProbs = new Float32Array(length * k);
  for (let t = 0; t < length; t++) {
    const normaliser = output.logSumExp[t]!;
    for (let j = 0; j < k; j++) {
      outIds[t * k + j] = ids[t * width + j]!;
      logProbs[t * k + j] = logits[t * width + j]! - normaliser;
    }
  }
  return {
    length,
    k,
    ids: outIds,
    logProbs,
    nextTokenLogProbs: output.nextTokenLogProbs,
    nextTokenRanks: output.nextTokenRanks ?? new Int32Array(length),
  };
}
