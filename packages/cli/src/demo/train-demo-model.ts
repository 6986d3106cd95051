import { createRandom } from '@fusechat/core';
import type { CausalLM } from '@fusechat/model';
import * as tf from '@tensorflow/tfjs-core';
import type { TokenizedConversation } from './demo-corpus.js';

/** A right-padded batch of conversations. */
export interface DemoBatch {
  readonly examples: readonly TokenizedConversation[];
  /** Indices of the examples in the training set (to look up per-example targets). */
  readonly indices: readonly number[];
  readonly inputIds: number[][];
  readonly attentionMask: number[][];
  readonly timeSteps: number;
}

/** Options of {@link trainDemoModel}. */
export interface TrainDemoModelOptions {
  readonly steps: number;
  readonly batchSize: number;
  readonly learningRate: number;
  readonly seed: number;
  /** The training loss of one batch (called inside the optimizer's gradient tape). */
  readonly loss: (logits: tf.Tensor3D, batch: DemoBatch) => tf.Scalar;
  /** Tensors the loss needs for a batch (built outside the tape, disposed after the step). */
  readonly prepare?: (batch: DemoBatch) => tf.Tensor[];
  readonly onStep?: (step: number, loss: number) => void;
}

/** The id batches are padded with: the model's (first) EOS id, or 0 (padding is masked everywhere). */
export function paddingTokenId(model: CausalLM): number {
  const eos = model.config.eosTokenId;
  return eos === null ? 0 : [eos].flat()[0]!;
}

/** Pads examples on the right with `padId` (masked out of attention and of every loss). */
export function makeBatch(
  examples: readonly TokenizedConversation[],
  indices: readonly number[],
  padId: number,
): DemoBatch {
  const chosen = indices.map((index) => examples[index]!);
  const timeSteps = Math.max(...chosen.map((example) => example.inputIds.length));
  const inputIds = chosen.map((example) => {
    const row = Array.from(example.inputIds);
    while (row.length < timeSteps) row.push(padId);
    return row;
  });
  const attentionMask = chosen.map((example) =>
    Array.from({ length: timeSteps }, (_, t) => (t < example.inputIds.length ? 1 : 0)),
  );
  return { examples: chosen, indices, inputIds, attentionMask, timeSteps };
}

/**
 * A minimal training loop for the demo: Adam, shuffled mini-batches, one optimizer step per
 * batch; returns the per-step losses. Stands in for `@fusechat/training` (planned), which adds
 * AdamW, schedules, accumulation, clipping and checkpoints. Frees every tensor it creates.
 *
 * @example
 * ```ts
 * const losses = await trainDemoModel(model, examples, {
 *   steps: 50, batchSize: 8, learningRate: 3e-3, seed: 1,
 *   loss: (logits, batch) => clmLoss(logits, batch.examples.map((e) => e.inputIds)),
 * });
 * ```
 */
export async function trainDemoModel(
  model: CausalLM,
  examples: readonly TokenizedConversation[],
  options: TrainDemoModelOptions,
): Promise<number[]> {
  const random = createRandom(options.seed);
  const optimizer = tf.train.adam(options.learningRate);
  const padId = paddingTokenId(model);
  const losses: number[] = [];
  let order: number[] = [];
  try {
    for (let step = 0; step < options.steps; step++) {
      if (order.length < options.batchSize) {
        order = examples.map((_, index) => index);
        random.shuffle(order);
      }
      const batch = makeBatch(examples, order.splice(0, options.batchSize), padId);
      const prepared = options.prepare?.(batch) ?? [];
      const ids = tf.tensor2d(batch.inputIds, undefined, 'int32');
      try {
        const value = optimizer.minimize(
          () => options.loss(model.forward(ids, { attentionMask: batch.attentionMask }), batch),
          true,
          model.trainableVariables(),
        );
        const loss = (await value!.data())[0]!;
        value!.dispose();
        losses.push(loss);
        options.onStep?.(step, loss);
      } finally {
        ids.dispose();
        for (const tensor of prepared) tensor.dispose();
      }
    }
  } finally {
    optimizer.dispose();
  }
  return losses;
}
