import { InvalidInputError } from '@fusechat/core';
import type { SoftmaxStrategy } from './sparse-cross-entropy.js';

/** Options every loss accepts. */
export interface LossOptions {
  /**
   * Check that the student logits are finite before computing the loss (one on-device reduction
   * and a one-value read); throws a `NumericalError` naming `logits[b][t][v]`. Off by default so
   * training steps stay free of extra reads.
   */
  readonly checkLogits?: boolean;
  /** How the softmax is computed; see {@link SoftmaxStrategy}. Default `auto`. */
  readonly strategy?: SoftmaxStrategy;
}

/** Options of the fusion (soft-target) loss. */
export interface FusionLossOptions extends LossOptions {
  /** Teacher temperature: `q = softmax(targetLogits / temperature)`. Default 1. */
  readonly temperature?: number;
  /** `ce` (default): soft-target cross-entropy; `kl`: `KL(q ‖ p) = CE − H(q)` (same gradient). */
  readonly variant?: 'ce' | 'kl';
}

export function resolveFusionOptions(options: FusionLossOptions): {
  temperature: number;
  variant: 'ce' | 'kl';
} {
  const temperature = options.temperature ?? 1;
  if (typeof temperature !== 'number' || !Number.isFinite(temperature) || temperature <= 0) {
    throw new InvalidInputError(`temperature must be a finite number > 0, got ${temperature}`, {
      field: 'temperature',
    });
  }
  const variant = options.variant ?? 'ce';
  if (variant !== 'ce' && variant !== 'kl') {
    throw new InvalidInputError(`variant must be "ce" or "kl", got ${JSON.stringify(variant)}`, {
      field: 'variant',
    });
  }
  return { temperature, variant };
}
