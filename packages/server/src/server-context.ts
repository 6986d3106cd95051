import type { Logger, TokenizerLike } from '@fusechat/core';
import type { CausalLM } from '@fusechat/model';
import type { ScoringQueue } from './scoring/create-scoring-queue.js';

/** What every route reads: the model, its tokenizer and the resolved limits. */
export interface ServerContext {
  readonly model: CausalLM;
  readonly tokenizer: TokenizerLike;
  readonly modelName: string;
  readonly chatTemplate: string | undefined;
  readonly limits: ResolvedServerLimits;
  readonly logger: Logger;
  readonly scoring: ScoringQueue;
  /** End-of-sequence ids of the config, the tokenizer and the server's `stopTokenIds`. */
  readonly eosTokenIds: ReadonlySet<number>;
  /** {@link eosTokenIds} and the chat template's end-of-turn token: where chat replies stop. */
  readonly chatEosTokenIds: ReadonlySet<number>;
  /** `tokenizer.decode([id])`, memoised (log-probability dicts decode every entry). */
  decodeToken(id: number): string;
  /** Unix seconds the server started (`created` of the model card). */
  readonly startedAt: number;
}

/** Limits of {@link ServerContext}, every one set. */
export interface ResolvedServerLimits {
  readonly maxModelLen: number;
  readonly maxBatchTokens: number;
  readonly maxBodyBytes: number;
  readonly maxLogprobs: number;
}
