import type { CausalLM } from '@fusechat/model';
import * as tf from '@tensorflow/tfjs-core';
import type { EvaluationMetrics } from '../callbacks/training-callback.js';
import type { TrainingDataset } from '../training-dataset.js';
import { batchLoss, batchTensors, type LossSettings } from './accumulate-gradients.js';

/**
 * The training objective and its CLM term on every batch of `dataset` (epoch 0), weighted by
 * supervised positions; perplexity = `exp(CLM)`. No gradients; frees what it creates.
 *
 * @example
 * ```ts
 * const { evalLoss, evalPerplexity } = await evaluateDataset(model, evalDataset, { lmLossWeight: 0.9, distillLossType: 'ce' }, 42);
 * ```
 */
export async function evaluateDataset(
  model: CausalLM,
  dataset: TrainingDataset,
  settings: LossSettings,
  seed: number,
): Promise<EvaluationMetrics> {
  let lossSum = 0;
  let clmSum = 0;
  let positions = 0;
  for (let index = 0; index < dataset.batchesPerEpoch; index++) {
    const batch = await dataset.batch(0, index, seed);
    const inputs = batchTensors(batch);
    try {
      let parts: [number, number] | undefined;
      const value = tf.tidy(() =>
        batchLoss(model, batch, inputs, settings, (clm, fusion) => {
          parts = [clm, fusion];
        }),
      );
      const loss = (await value.data())[0]!;
      value.dispose();
      lossSum += loss * batch.supervisedPositions;
      clmSum += (parts?.[0] ?? loss) * batch.supervisedPositions;
      positions += batch.supervisedPositions;
    } finally {
      tf.dispose(Object.values(inputs));
    }
  }
  const evalLoss = positions === 0 ? Number.NaN : lossSum / positions;
  const evalClm = positions === 0 ? Number.NaN : clmSum / positions;
  return { evalLoss, evalClm, evalPerplexity: Math.exp(evalClm), evalPositions: positions };
}
