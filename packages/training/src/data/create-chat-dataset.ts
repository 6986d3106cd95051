import { createHash } from 'node:crypto';
import {
  type DataExample,
  hashFile,
  hashText,
  readDataFile,
  type TokenizedExample,
  type TruncationPolicy,
  tokenizeExample,
} from '@fusechat/chat-data';
import { isFuseChatError, type TokenizerLike } from '@fusechat/core';
import type { TrainingBatch } from '../training-batch.js';
import type { TrainingDataset } from '../training-dataset.js';
import { collateBatch } from './collate-batch.js';
import { type BatchingOptions, type PaddingStatistics, planBatches } from './plan-batches.js';

/** Options of {@link createChatDataset}. */
export interface ChatDatasetOptions extends BatchingOptions {
  /** JSONL data (DESIGN.md §4): chat `messages`/`conversations`, `{"text"}` or pre-tokenised lines. */
  readonly dataFile: string;
  /** The model's tokenizer (its `chatTemplate` renders chat lines unless `chatTemplate` is given). */
  readonly tokenizer: TokenizerLike;
  /** Jinja chat template; overrides the tokenizer's. */
  readonly chatTemplate?: string | undefined;
  /** Extra chat-template variables (`enable_thinking`…). */
  readonly templateVariables?: Readonly<Record<string, unknown>> | undefined;
  /** Longest example in tokens (no limit by default). */
  readonly maxLength?: number | undefined;
  /** What to do with longer examples: `keep-first` (default), `keep-last`, `refuse`. */
  readonly truncation?: TruncationPolicy | undefined;
  /** Skip (and count) invalid lines and examples instead of failing on the first. Default false. */
  readonly skipInvalid?: boolean | undefined;
  /** Token id written on padding (default: the tokenizer's pad, else its eos, else 0); padding is masked. */
  readonly padId?: number | undefined;
}

/** A plain CLM {@link TrainingDataset} over chat data. */
export interface ChatDataset extends TrainingDataset {
  readonly hasTargets: false;
  /** Padding of one epoch (the same every epoch). */
  readonly padding: PaddingStatistics;
  /** Lines or examples skipped as invalid (with `skipInvalid`) or empty (no tokens). */
  readonly skipped: number;
  /** Examples cut at `maxLength`. */
  readonly truncated: number;
}

/**
 * Plain supervised fine-tuning data for the same loop: a JSONL file read with
 * `@fusechat/chat-data` (`readDataFile`), each line rendered with the chat template and tokenized
 * as capture does (`tokenizeExample`), so the labels are exactly its assistant masks (−100 on
 * context and padding). The file is read and tokenized once; batches are length-bucketed
 * ({@link planBatches}) and shuffled per epoch with the seed. The fingerprint names the data
 * file's SHA-256, the tokenizer, the template and every option that changes the batches.
 *
 * @throws the errors of `readDataFile` / `tokenizeExample` (`CHAT_…`, each with `file:line`)
 *   unless `skipInvalid`; InvalidInputError `TRAIN_INVALID_OPTIONS` for bad batching options or
 *   no usable example.
 * @example
 * ```ts
 * const tokenizer = await loadTokenizer('models/pivot');
 * const dataset = await createChatDataset({ dataFile: 'train.jsonl', tokenizer, maxLength: 2048, batchSize: 8 });
 * const batch = await dataset.batch(0, 0, 42); // no targets: clmLoss on batch.labels
 * ```
 */
export async function createChatDataset(options: ChatDatasetOptions): Promise<ChatDataset> {
  const { tokenizer, dataFile } = options;
  const reader = readDataFile(dataFile, { skipInvalid: options.skipInvalid });
  const examples: TokenizedExample[] = [];
  let skipped = 0;
  let truncated = 0;
  const tokenize = (example: DataExample) =>
    tokenizeExample(example, {
      tokenizer,
      chatTemplate: options.chatTemplate,
      templateVariables: options.templateVariables,
      maxLength: options.maxLength,
      truncation: options.truncation,
    });
  for await (const example of reader) {
    let tokenized: TokenizedExample;
    try {
      tokenized = tokenize(example);
    } catch (error) {
      // Option errors (CHAT_INVALID_OPTION) concern every line: never skipped.
      if (!options.skipInvalid || !isFuseChatError(error) || error.code === 'CHAT_INVALID_OPTION')
        throw error;
      skipped++;
      continue;
    }
    if (tokenized.inputIds.length === 0) {
      skipped++;
      continue;
    }
    if (tokenized.truncated) truncated++;
    examples.push(tokenized);
  }
  skipped += reader.counts.skipped;
  const plan = planBatches(
    examples.map((example) => example.inputIds.length),
    options,
  );
  const padId = options.padId ?? tokenizer.specialTokens.pad ?? tokenizer.specialTokens.eos ?? 0;
  const template = options.chatTemplate ?? tokenizer.chatTemplate;
  const fingerprint = createHash('sha256')
    .update(
      JSON.stringify({
        kind: 'chat',
        data: await hashFile(dataFile),
        tokenizer: tokenizer.hash,
        chatTemplate: template === undefined ? null : hashText(template),
        templateVariables: options.templateVariables ?? null,
        maxLength: options.maxLength ?? null,
        truncation: options.truncation ?? 'keep-first',
        skipInvalid: options.skipInvalid ?? false,
        batchSize: options.batchSize ?? null,
        batchTokens: options.batchTokens ?? null,
        padId,
      }),
    )
    .digest('hex');
  return {
    examples: examples.length,
    batchesPerEpoch: plan.batches.length,
    hasTargets: false,
    fingerprint,
    padding: plan.padding,
    skipped,
    truncated,
    async batch(epoch: number, index: number, seed: number): Promise<TrainingBatch> {
      return collateBatch(
        plan.members(epoch, index, seed).map((member) => examples[member]!),
        padId,
      );
    },
  };
}
