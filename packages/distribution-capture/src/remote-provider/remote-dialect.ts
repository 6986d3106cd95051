import type { TokenizerLike } from '@fusechat/core';
import type { ProviderOutput } from '../logits-provider.js';
import type { RemoteHttpClient } from './remote-http-client.js';
import { RemoteProviderError } from './remote-provider-error.js';

/** The engine protocols a remote provider speaks. */
export type RemoteDialectName = 'vllm' | 'sglang';

/** What a dialect learns about the server before capture. */
export interface RemoteServerFacts {
  /** Longest prompt the server accepts for one generated token, when it says. */
  readonly maxSequenceLength?: number | undefined;
}

/** One engine's protocol: the checks before capture and the scoring request of one sequence. */
export interface RemoteDialect {
  readonly name: RemoteDialectName;
  /** Checks the model is served and the server's tokenizer agrees with `tokenizer` on `texts`. */
  probe(context: DialectContext, texts: readonly string[]): Promise<RemoteServerFacts>;
  /** The top-`k` distributions and next-token log-probabilities of one sequence. */
  score(
    context: DialectContext,
    inputIds: Int32Array,
    k: number,
    signal?: AbortSignal,
  ): Promise<ProviderOutput>;
}

export interface DialectContext {
  readonly client: RemoteHttpClient;
  readonly modelName: string;
  readonly tokenizer: TokenizerLike;
}

/** Rows being filled: `T × k` ids and values, next-token log-probabilities, the non-finite flag. */
export class OutputBuilder {
  readonly ids: Int32Array;
  readonly values: Float32Array;
  readonly nextTokenLogProbs: Float32Array;
  nonFinite = false;
  constructor(
    readonly length: number,
    readonly k: number,
  ) {
    this.ids = new Int32Array(length * k);
    this.values = new Float32Array(length * k);
    this.nextTokenLogProbs = new Float32Array(length).fill(Number.NaN);
  }

  /** Row `t` from entries already ranked best first (at least `k`; the first `k` are kept). */
  setRow(t: number, ranked: readonly { id: number; value: number }[]): void {
    for (let j = 0; j < this.k; j++) {
      const entry = ranked[j]!;
      this.ids[t * this.k + j] = entry.id;
      this.values[t * this.k + j] = entry.value;
      if (!Number.isFinite(entry.value)) this.nonFinite = true;
    }
  }

  setNextTokenLogProb(t: number, value: number): void {
    this.nextTokenLogProbs[t] = value;
    if (!Number.isFinite(value)) this.nonFinite = true;
  }

  build(): ProviderOutput {
    return {
      topK: { length: this.length, k: this.k, ids: this.ids, logits: this.values },
      nextTokenLogProbs: this.nextTokenLogProbs,
      nonFinite: this.nonFinite,
    };
  }
}

/** A JSON number, or NaN for what a server writes for non-finite values (`null`, `"NaN"`, `"-Infinity"`). */
export function logprobValue(value: unknown): number {
  if (typeof value === 'number') return value;
  if (value === null) return Number.NaN;
  if (typeof value === 'string' && /^[+-]?(nan|inf|infinity)$/i.test(value.trim())) {
    return value.trim().toLowerCase().includes('inf')
      ? value.trim().startsWith('-')
        ? Number.NEGATIVE_INFINITY
        : Number.POSITIVE_INFINITY
      : Number.NaN;
  }
  return Number.NaN;
}

export function badResponse(
  url: string,
  problem: string,
  details?: Record<string, unknown>,
): RemoteProviderError {
  return new RemoteProviderError('REMOTE_BAD_RESPONSE', `${url}: ${problem}`, { url, details });
}

export function tooFewEntries(
  url: string,
  position: number,
  found: number,
  k: number,
  engine: string,
): RemoteProviderError {
  return new RemoteProviderError(
    'REMOTE_TOO_FEW_LOGPROBS',
    `${url}: position ${position} has ${found} top log-probabilities, fewer than k = ${k} (${engine} returned less than asked; capture never pads: lower --top-k or fix the server)`,
    { url, details: { position, found, k } },
  );
}

export function promptMismatch(
  url: string,
  position: number,
  sent: number | undefined,
  received: number | undefined,
): RemoteProviderError {
  return new RemoteProviderError(
    'REMOTE_PROMPT_MISMATCH',
    `${url}: the server scored another prompt than the one sent (position ${position}: sent token ${String(sent)}, ${received === undefined ? 'the answer does not score it' : `the answer is about token ${received}`}); is something between capture and the engine re-tokenising?`,
    { url, details: { position, sent, received } },
  );
}

/** Compares the server's tokenisation of `text` with the local one; throws on the first difference. */
export function checkTokenization(
  url: string,
  tokenizer: TokenizerLike,
  text: string,
  serverIds: readonly number[],
  acceptable: readonly (readonly number[])[],
): void {
  if (acceptable.some((local) => sameIds(local, serverIds))) return;
  const local = acceptable[0]!;
  let at = 0;
  while (at < local.length && local[at] === serverIds[at]) at++;
  const show = (id: number | undefined) =>
    id === undefined ? '(end)' : `${id} ${JSON.stringify(tokenizer.idToToken(id) ?? '?')}`;
  throw new RemoteProviderError(
    'REMOTE_TOKENIZER_MISMATCH',
    `the server's tokenizer disagrees with --tokenizer on ${JSON.stringify(text)}: at token ${at} the server has ${show(serverIds[at])}, --tokenizer has ${show(local[at])} (${serverIds.length} vs ${local.length} tokens). Point --tokenizer at the served model's tokenizer files.`,
    { url, details: { text, position: at, serverIds: [...serverIds], localIds: [...local] } },
  );
}

function sameIds(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((id, i) => id === b[i]);
}

/** Texts the tokenizer probe sends: spaces, punctuation, digits, accents, CJK, emoji, newlines. */
export const PROBE_TEXTS: readonly string[] = [
  'Hello, world! The quick brown fox jumps over the lazy dog.',
  '  two leading spaces,\ttabs,\nnewlines\n\nand trailing spaces  ',
  'Numbers 0 7 42 1234567 3.14159 -0.5e10; code: def f(x): return x**2',
  'naïve café résumé Ünïcödé — “quotes” 東京 中文 日本語 한국어 🙂🚀',
];
