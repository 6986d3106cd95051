import { createRandom, InvalidInputError } from '@fusechat/core';
import * as tf from '@tensorflow/tfjs-core';
import type { KvCache } from '../architectures/architecture.js';
import type { CausalLM } from '../model/causal-lm.js';
import { assertFinite } from '../numerics/assert-finite.js';
import {
  type GenerateOptions,
  type GenerateResult,
  minNewTokensOf,
  stopTokensOf,
  withoutStopTokens,
} from './generate.js';
import {
  applyRepetitionControls,
  checkRepetitionOptions,
  hasRepetitionControls,
} from './logits-processors.js';
import { sampleToken } from './sample-token.js';

/**
 * {@link generate} for several prompts at once: prompts are left-padded to a common length
 * (position ids from the padding mask, as `transformers` does), decoded together with one KV
 * cache, and each row stops on its own (not before `minNewTokens`). Row `i` samples from `createRandom(seed).fork(i)`, so
 * results do not depend on the other rows. `onToken` is not called. Frees every tensor it makes.
 *
 * @example
 * ```ts
 * const results = await generateBatch(model, [tokenizer.encode('Hi'), tokenizer.encode('Hello there')], { maxNewTokens: 16 });
 * results.map((result) => tokenizer.decode(result.tokens));
 * ```
 */
export async function generateBatch(
  model: CausalLM,
  prompts: readonly (readonly number[])[],
  options: Omit<GenerateOptions, 'onToken'> = {},
): Promise<GenerateResult[]> {
  const maxNewTokens = options.maxNewTokens ?? 32;
  if (!Number.isInteger(maxNewTokens) || maxNewTokens < 0) {
    throw new InvalidInputError(`maxNewTokens must be a non-negative integer, got ${maxNewTokens}.`, {
      code: 'MODEL_INVALID_INPUT',
      field: 'maxNewTokens',
    });
  }
  if (prompts.length === 0 || prompts.some((prompt) => prompt.length === 0)) {
    throw new InvalidInputError('generateBatch needs at least one prompt and no empty prompt.', {
      code: 'MODEL_INVALID_INPUT',
      field: 'prompts',
    });
  }
  checkRepetitionOptions(options);
  const controlled = hasRepetitionControls(options);
  const stop = stopTokensOf(model, options);
  const minNewTokens = minNewTokensOf(options);
  const padId = model.config.padTokenId ?? 0;
  const longest = Math.max(...prompts.map((prompt) => prompt.length));
  const mask = prompts.map((prompt) => [
    ...new Array<number>(longest - prompt.length).fill(0),
    ...prompt.map(() => 1),
  ]);
  let input = prompts.map((prompt) => [...new Array<number>(longest - prompt.length).fill(padId), ...prompt]);
  const randoms = prompts.map((_, row) => createRandom(options.seed ?? 0).fork(row));
  const results = prompts.map(() => ({
    tokens: [] as number[],
    finishReason: 'length' as 'stop' | 'length',
    done: false,
  }));
  let cache: KvCache | undefined;
  try {
    for (let step = 0; step < maxNewTokens && results.some((result) => !result.done); step++) {
      const output = model.step(input, { cache, keyMask: mask, lastPositionOnly: true });
      const previous = cache;
      cache = output.cache;
      if (previous) tf.dispose(previous.layers.flatMap((layer) => [layer.key, layer.value]));
      const logits = (await output.logits.data()) as Float32Array;
      output.logits.dispose();
      const vocab = model.config.vocabSize;
      input = results.map((result, row) => {
        if (result.done) return [padId];
        const rowLogits = logits.subarray(row * vocab, (row + 1) * vocab);
        const step = result.tokens.length + 1;
        assertFinite(
          rowLogits,
          'MODEL_NON_FINITE_LOGITS',
          `The logits of prompt ${row}, generation step ${step}`,
          {
            row,
            step,
          },
        );
        let adjusted = controlled
          ? applyRepetitionControls(rowLogits, [...prompts[row]!, ...result.tokens], options)
          : rowLogits;
        if (result.tokens.length < minNewTokens) adjusted = withoutStopTokens(adjusted, stop, controlled);
        const token = sampleToken(adjusted, options, randoms[row]!);
        result.tokens.push(token);
        if (stop.has(token)) {
          result.done = true;
          result.finishReason = 'stop';
        }
        return [token];
      });
      // Rows attend only to themselves: what a finished row decodes next affects nobody.
      for (const row of mask) row.push(1);
    }
    return results.map(({ tokens, finishReason }) => ({ tokens, finishReason }));
  } finally {
    if (cache) tf.dispose(cache.layers.flatMap((layer) => [layer.key, layer.value]));
  }
}
