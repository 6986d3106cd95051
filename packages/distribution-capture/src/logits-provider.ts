import type { SparseDistributions, TokenizerLike } from '@fusechat/core';

/**
 * What a provider returns for one token sequence of length `T`.
 *
 * Row `t` of `topK` is the distribution position `t` predicts for token `t + 1` (row `T − 1`
 * predicts the token after the sequence), its `k` entries sorted best first.
 */
export interface ProviderOutput {
  /**
   * `T` rows of `k` entries: token ids and their values, best first. The values are logits
   * (`valueKind: 'logits'`) or log-probabilities (`'logprobs'`); see {@link LogitsProvider.valueKind}.
   */
  readonly topK: SparseDistributions;
  /**
   * Per position `t < T − 1`: `log p(inputIds[t + 1] | inputIds[0..t])` over the **full**
   * vocabulary (a log-softmax, not over the kept entries); NaN at the last position.
   */
  readonly nextTokenLogProbs: Float32Array;
  /**
   * True when the model produced NaN or infinite logits for this sequence (the values above are
   * then meaningless). Providers report it per sequence and never throw mid-batch for it;
   * `captureDistributions` flags the example and goes on. Optional: when absent, capture checks
   * the values themselves (any non-finite top-k value, or a NaN next-token log-probability).
   */
  readonly nonFinite?: boolean | undefined;
}

/**
 * A source of teacher distributions: a local model, or an inference server (vLLM, SGLang). The
 * plug-in point of distribution capture — implement it to capture from anything else.
 *
 * **Logits or log-probabilities.** A local model returns raw logits `z`; a server returns
 * log-probabilities `log softmax(z) = z − logsumexp(z)`. At one position they differ by a
 * constant (`logsumexp(z)`), so the order of the top-k entries is the same, and the teacher
 * distribution the pipeline uses — `softmax` over the kept entries only (DESIGN §3, T = 1) — is
 * identical for both. Stores record which kind they hold (`valueKind`) so a consumer that needs
 * absolute values knows what it reads. `nextTokenLogProbs` are log-probabilities for both.
 *
 * @example
 * ```ts
 * const provider: LogitsProvider = createLocalProvider(model, tokenizer);
 * const [output] = await provider.topK([Int32Array.from([1, 306, 4658])], { k: 10 });
 * output.topK.ids.subarray(0, 10); // the 10 likeliest tokens after "1", best first
 * output.nextTokenLogProbs[0]; // log p(306 | 1)
 * ```
 */
export interface LogitsProvider {
  /** Model identity: a hash of the local `config.json`, or the server endpoint plus model name. */
  readonly id: string;
  /** Human-readable model name (directory name, served model name). */
  readonly name: string;
  /** The tokenizer the sequences are written in. */
  readonly tokenizer: TokenizerLike;
  /** `logits` (local models) or `logprobs` (servers): equal after softmax over the kept entries. */
  readonly valueKind: 'logits' | 'logprobs';
  /** Longest sequence the provider accepts, when it has a limit. */
  readonly maxSequenceLength?: number | undefined;
  /**
   * Teacher-forced top-k distributions and next-token log-probabilities of each sequence, in the
   * order given (the provider batches and reorders internally as it likes). Each sequence is
   * non-empty; `k` ≥ 1.
   */
  topK(sequences: readonly Int32Array[], options: { k: number }): Promise<ProviderOutput[]>;
  /** Frees what the provider holds (not the model it was given). */
  dispose?(): void | Promise<void>;
}
