import { totalmem } from 'node:os';
import { FuseChatError } from '@fusechat/core';
import type { ModelConfig } from '../config/model-config.js';

/** Environment variable that sets the activation budget in bytes (default: half the machine's memory). */
export const ACTIVATION_BUDGET_ENV = 'FUSECHAT_ACTIVATION_BUDGET_BYTES';

/** The largest transient activation memory one forward pass may plan for, in bytes. */
export function activationBudgetBytes(): number {
  const fromEnv = Number(process.env[ACTIVATION_BUDGET_ENV]);
  return Number.isFinite(fromEnv) && fromEnv > 0 ? fromEnv : Math.floor(totalmem() / 2);
}

/** What one forward pass computes, for {@link checkActivationBudget}. */
export interface ForwardShape {
  readonly batch: number;
  readonly queryLength: number;
  /** Keys attended to (past + query); default `queryLength`. */
  readonly keyLength?: number;
  /** Rows of logits produced (`batch × queryLength` for full logits, `batch` for the last position, 0 for hidden states). */
  readonly logitsRows: number;
}

/**
 * Refuses a forward pass whose sequence-length-dependent activations — one layer's attention
 * scores and probabilities (`2 × batch × heads × queries × keys` float32) and the logits
 * (`rows × vocab` float32) — would exceed {@link activationBudgetBytes}, before anything is
 * allocated, with a message that says how to go lower. Throws `MODEL_MEMORY_BUDGET`.
 */
export function checkActivationBudget(config: ModelConfig, shape: ForwardShape): void {
  const keyLength = shape.keyLength ?? shape.queryLength;
  const attention = 2 * 4 * shape.batch * config.numAttentionHeads * shape.queryLength * keyLength;
  const logits = 4 * shape.logitsRows * config.vocabSize;
  const budget = activationBudgetBytes();
  if (attention + logits <= budget) return;
  throw new FuseChatError(
    'MODEL_MEMORY_BUDGET',
    `A forward pass over ${shape.batch} × ${shape.queryLength} tokens${keyLength === shape.queryLength ? '' : ` (attending to ${keyLength})`} needs about ${gib(attention)} for attention scores${logits > 0 ? ` and ${gib(logits)} for logits` : ''}, more than the ${gib(budget)} budget (half of this machine's memory; ${ACTIVATION_BUDGET_ENV} sets it). Use a smaller --max-length (attention grows with its square) or --batch-size / --batch-tokens.`,
    { details: { attentionBytes: attention, logitsBytes: logits, budgetBytes: budget, ...shape } },
  );
}

function gib(bytes: number): string {
  return bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(1)} GiB` : `${(bytes / 2 ** 20).toFixed(0)} MiB`;
}
