import { createRandom, InvalidInputError } from '@fusechat/core';
import * as tf from '@tensorflow/tfjs-core';
import type { KvCache } from '../architectures/architecture.js';
import type { CausalLM } from '../model/causal-lm.js';
import { assertFinite } from '../numerics/assert-finite.js';
import {
  applyRepetitionControls,
  checkRepetitionOptions,
  hasRepetitionControls,
  type RepetitionOptions,
} from './logits-processors.js';
import { type SamplingOptions, sampleToken } from './sample-token.js';

/** Options of {@link generate}. */
export interface GenerateOptions extends SamplingOptions, RepetitionOptions {
  /** Tokens to produce at most (default 32). */
  readonly maxNewTokens?: number;
  /** Generation ends after any of these (included in the output). Default: the config's `eos_token_id`(s). */
  readonly stopTokens?: readonly number[];
  /**
   * transformers' `min_new_tokens`: the stop tokens cannot be drawn during the first
   * `minNewTokens` steps (their logits are −∞ there). Default 0.
   */
  readonly minNewTokens?: number;
  /** Seed of the sampler (default 0); unused when greedy. */
  readonly seed?: number;
  /** Called with each new token; returning `false` stops early (other return values are ignored). */
  readonly onToken?: (token: number) => unknown;
}

/** What {@link generate} produced: the new tokens only (prompt excluded). */
export interface GenerateResult {
  readonly tokens: number[];
  /** `stop`: a stop token was produced (or `onToken` returned false); `length`: `maxNewTokens` reached. */
  readonly finishReason: 'stop' | 'length';
}

/** The ids that end generation: `stopTokens`, else the model's EOS id(s). */
export function stopTokensOf(model: CausalLM, options: GenerateOptions): Set<number> {
  if (options.stopTokens) return new Set(options.stopTokens);
  const eos = model.config.eosTokenId;
  return new Set(eos === null ? [] : typeof eos === 'number' ? [eos] : eos);
}

/** `minNewTokens` checked (a non-negative integer; default 0). */
export function minNewTokensOf(options: GenerateOptions): number {
  const minNewTokens = options.minNewTokens ?? 0;
  if (!Number.isInteger(minNewTokens) || minNewTokens < 0) {
    throw new InvalidInputError(`minNewTokens must be a non-negative integer, got ${minNewTokens}.`, {
      code: 'MODEL_INVALID_INPUT',
      field: 'minNewTokens',
    });
  }
  return minNewTokens;
}

/**
 * Logits with every stop id at −∞ (transformers' MinNewTokensLengthLogitsProcessor), copied
 * unless `owned` (the backend's array is not ours to change).
 */
export function withoutStopTokens(
  logits: Float32Array,
  stop: ReadonlySet<number>,
  owned: boolean,
): Float32Array {
  const out = owned ? logits : Float32Array.from(logits);
  for (const id of stop) if (id < out.length) out[id] = Number.NEGATIVE_INFINITY;
  return out;
}

/**
 * Autoregressive generation with a KV cache: one prefill pass over the prompt, then one token
 * per pass. Greedy when `temperature` is 0 (default), else temperature / top-k / top-p sampling
 * seeded by `seed`; `repetitionPenalty` and `noRepeatNgramSize` (transformers' logits
 * processors, over prompt + generated ids) apply first, in both modes. Frees every intermediate tensor.
 *
 * @example
 * ```ts
 * const { tokens } = await generate(model, tokenizer.encode('Hello'), { maxNewTokens: 20, temperature: 0.7, topP: 0.9, seed: 1 });
 * console.log(tokenizer.decode(tokens));
 * ```
 */
export async function generate(
  model: CausalLM,
  prompt: readonly number[],
  options: GenerateOptions = {},
): Promise<GenerateResult> {
  const maxNewTokens = options.maxNewTokens ?? 32;
  if (!Number.isInteger(maxNewTokens) || maxNewTokens < 0) {
    throw new InvalidInputError(`maxNewTokens must be a non-negative integer, got ${maxNewTokens}.`, {
      code: 'MODEL_INVALID_INPUT',
      field: 'maxNewTokens',
    });
  }
  const temperature = options.temperature ?? 0;
  if (!(temperature >= 0) || !(options.topP === undefined || (options.topP > 0 && options.topP <= 1))) {
    throw new InvalidInputError('temperature must be ≥ 0 and topP in (0, 1].', {
      code: 'MODEL_INVALID_INPUT',
      field: 'temperature',
    });
  }
  if (prompt.length === 0) {
    throw new InvalidInputError('generate needs a non-empty prompt (add the BOS token).', {
      code: 'MODEL_INVALID_INPUT',
      field: 'prompt',
    });
  }
  checkRepetitionOptions(options);
  const controlled = hasRepetitionControls(options);
  const stop = stopTokensOf(model, options);
  const minNewTokens = minNewTokensOf(options);
  const random = createRandom(options.seed ?? 0);
  const tokens: number[] = [];
  let cache: KvCache | undefined;
  let input: number[] = [...prompt];
  try {
    while (tokens.length < maxNewTokens) {
      const output = model.step([input], { cache, lastPositionOnly: true });
      const previous = cache;
      cache = output.cache;
      if (previous) tf.dispose(previous.layers.flatMap((layer) => [layer.key, layer.value]));
      let logits = (await output.logits.data()) as Float32Array;
      output.logits.dispose();
      assertFinite(logits, 'MODEL_NON_FINITE_LOGITS', `The logits of generation step ${tokens.length + 1}`, {
        step: tokens.length + 1,
      });
      if (controlled) logits = applyRepetitionControls(logits, [...prompt, ...tokens], options);
      // The controls already made a copy, if on.
      if (tokens.length < minNewTokens) logits = withoutStopTokens(logits, stop, controlled);
      const token = sampleToken(logits, options, random);
      tokens.push(token);
      if (stop.has(token) || options.onToken?.(token) === false) return { tokens, finishReason: 'stop' };
      input = [token];
    }
    return { tokens, finishReason: 'length' };
  } finally {
    if (cache) tf.dispose(cache.layers.flatMap((layer) => [layer.key, layer.value]));
  }
}
