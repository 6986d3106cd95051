import {
  type CaptureRecord,
  FuseChatError,
  InvalidInputError,
  type Logger,
  type ProgressEvent,
  silentLogger,
} from '@fusechat/core';
import type { StoreIdentity, StoreWriter } from '@fusechat/distribution-store';
import type { LogitsProvider, ProviderOutput } from './logits-provider.js';
import { supervisedCrossEntropy } from './supervised-cross-entropy.js';

/** One input of capture: a tokenised example (`@fusechat/chat-data`'s `tokenizeExample` result fits). */
export interface CaptureExample {
  readonly id: string;
  readonly inputIds: Int32Array;
  /** 1 = supervised token (predicted by the position before it); same length as `inputIds`. */
  readonly labelMask: Uint8Array;
}

/** A progress event of {@link captureDistributions}: `completed` counts inputs (stored + flagged). */
export interface CaptureProgressEvent extends ProgressEvent {
  readonly task: 'capture';
  readonly unit: 'examples';
  /** Tokens of the inputs counted in `completed` (resumed ones included). */
  readonly tokens: number;
  /** Inputs flagged (not stored) so far, this run. */
  readonly flagged: number;
  /** Inputs found already committed when the capture resumed. */
  readonly resumedFrom: number;
}

/** Options of {@link captureIntoWriter}: those of `captureDistributions` that the loop reads. */
export interface CaptureLoopOptions {
  readonly provider: LogitsProvider;
  readonly examples: AsyncIterable<CaptureExample> | Iterable<CaptureExample>;
  readonly k: number;
  readonly identity: StoreIdentity;
  readonly batchTokens?: number | undefined;
  readonly maxBatchExamples?: number | undefined;
  readonly totalExamples?: number | undefined;
  readonly onProgress?: ((event: CaptureProgressEvent) => void) | undefined;
  readonly logger?: Logger | undefined;
  readonly signal?: AbortSignal | undefined;
}

const DEFAULT_WINDOW_TOKENS = 16384;
const DEFAULT_WINDOW_EXAMPLES = 256;

/** The part of a store writer capture uses (the plan's `StoreWriter`). */
export type CaptureWriter = Pick<StoreWriter, 'cursor' | 'append' | 'flag'>;

/**
 * The capture loop over an open writer: windows of consecutive examples, skipped while they lie
 * before `writer.cursor`, otherwise run through the provider whole (so batches match an
 * uninterrupted run) and appended from the cursor on. Exported for tests and custom stores.
 *
 * @example
 * ```ts
 * const counts = await captureIntoWriter(writer, { provider, examples, k: 10, identity });
 * ```
 */
export async function captureIntoWriter(
  writer: CaptureWriter,
  options: CaptureLoopOptions,
): Promise<{ resumedFrom: number; examples: number; tokens: number; flagged: number }> {
  const { provider, k } = options;
  const logger = options.logger ?? silentLogger;
  const windowTokens = options.batchTokens ?? DEFAULT_WINDOW_TOKENS;
  const windowExamples = options.maxBatchExamples ?? DEFAULT_WINDOW_EXAMPLES;
  const resumedFrom = writer.cursor;
  if (resumedFrom > 0) logger.info(`resuming capture after ${resumedFrom} committed inputs`);
  let consumed = 0;
  let consumedTokens = 0;
  let stored = 0;
  let storedTokens = 0;
  let flagged = 0;
  let skippedReported = false;

  const report = () =>
    options.onProgress?.({
      task: 'capture',
      unit: 'examples',
      completed: consumed,
      total: options.totalExamples,
      tokens: consumedTokens,
      flagged,
      resumedFrom,
      detail: `${consumedTokens} tokens${flagged > 0 ? `, ${flagged} flagged` : ''}`,
    });

  let window: CaptureExample[] = [];
  let windowStart = 0;
  let windowLength = 0;
  const flush = async () => {
    const start = windowStart;
    const examples = window;
    window = [];
    windowLength = 0;
    windowStart = start + examples.length;
    const tokens = examples.reduce((sum, example) => sum + example.inputIds.length, 0);
    if (start + examples.length <= resumedFrom) {
      consumed += examples.length;
      consumedTokens += tokens;
      return;
    }
    if (!skippedReported && resumedFrom > 0) report();
    skippedReported = true;
    if (options.signal?.aborted) {
      throw new FuseChatError('CAPTURE_ABORTED', 'capture was aborted; rerun to resume', {
        cause: options.signal.reason,
      });
    }
    const outputs = await provider.topK(
      examples.map((example) => example.inputIds),
      { k },
    );
    for (const [i, example] of examples.entries()) {
      const index = start + i;
      if (index < resumedFrom) {
        consumed++;
        consumedTokens += example.inputIds.length;
        continue;
      }
      const output = checkOutput(outputs[i], example, k, provider);
      if (isNonFinite(output)) {
        flagged++;
        logger.warn(`example "${example.id}" has non-finite logits: flagged, not stored`, { index });
        await writer.flag(example.id, 'non-finite logits', { cursor: index + 1 });
      } else {
        const record: CaptureRecord = {
          id: example.id,
          inputIds: example.inputIds,
          labelMask: example.labelMask,
          topK: output.topK,
          ce: supervisedCrossEntropy(output.nextTokenLogProbs, example.labelMask),
          nextTokenLogProbs: output.nextTokenLogProbs,
        };
        await writer.append(record, { cursor: index + 1 });
        stored++;
        storedTokens += example.inputIds.length;
      }
      consumed++;
      consumedTokens += example.inputIds.length;
    }
    report();
  };

  let index = 0;
  for await (const example of options.examples) {
    checkExample(example, index);
    const length = example.inputIds.length;
    if (window.length > 0 && (windowLength + length > windowTokens || window.length >= windowExamples)) {
      await flush();
    }
    window.push(example);
    windowLength += length;
    index++;
  }
  if (window.length > 0) await flush();
  if (!skippedReported) report();
  if (index < resumedFrom) {
    throw new InvalidInputError(
      `the store has ${resumedFrom} inputs committed but the data has only ${index}: is it the same data?`,
      { code: 'CAPTURE_INVALID_INPUT', field: 'examples' },
    );
  }
  return { resumedFrom, examples: stored, tokens: storedTokens, flagged };
}

function isNonFinite(output: ProviderOutput): boolean {
  if (output.nonFinite !== undefined) return output.nonFinite;
  const { logits } = output.topK;
  for (let i = 0; i < logits.length; i++)
    if (!Number.isFinite(logits[i]!) && output.topK.ids[i] !== -1) return true;
  const logProbs = output.nextTokenLogProbs;
  for (let t = 0; t + 1 < logProbs.length; t++) if (Number.isNaN(logProbs[t]!)) return true;
  return false;
}

function checkOutput(
  output: ProviderOutput | undefined,
  example: CaptureExample,
  k: number,
  provider: LogitsProvider,
): ProviderOutput {
  const length = example.inputIds.length;
  if (
    output === undefined ||
    output.topK.length !== length ||
    output.topK.k !== k ||
    output.topK.ids.length !== length * k ||
    output.topK.logits.length !== length * k ||
    output.nextTokenLogProbs.length !== length
  ) {
    throw new FuseChatError(
      'CAPTURE_PROVIDER_OUTPUT',
      `provider "${provider.name}" returned ${output === undefined ? 'nothing' : `${output.topK.length} rows of ${output.topK.k}`} for example "${example.id}" (${length} tokens, k = ${k}): a provider bug`,
      { details: { example: example.id, provider: provider.id } },
    );
  }
  return output;
}

function checkExample(example: CaptureExample, index: number): void {
  const where = `example ${index}${typeof example?.id === 'string' ? ` ("${example.id}")` : ''}`;
  if (typeof example?.id !== 'string' || example.id.length === 0) {
    throw new InvalidInputError(`${where} has no id.`, {
      code: 'CAPTURE_INVALID_EXAMPLE',
      field: `examples[${index}].id`,
    });
  }
  if (!(example.inputIds instanceof Int32Array) || example.inputIds.length === 0) {
    throw new InvalidInputError(`${where}: inputIds must be a non-empty Int32Array.`, {
      code: 'CAPTURE_INVALID_EXAMPLE',
      field: `examples[${index}].inputIds`,
    });
  }
  if (!(example.labelMask instanceof Uint8Array) || example.labelMask.length !== example.inputIds.length) {
    throw new InvalidInputError(
      `${where}: labelMask must be a Uint8Array as long as inputIds (${example.inputIds.length}).`,
      { code: 'CAPTURE_INVALID_EXAMPLE', field: `examples[${index}].labelMask` },
    );
  }
}

/** Validates the options capture shares with the store (k, window sizes, identity vs provider). */
export function checkCaptureOptions(options: CaptureLoopOptions): void {
  const { k, identity, provider } = options;
  const positive = (value: number | undefined, field: string) => {
    if (value !== undefined && !(Number.isInteger(value) && value > 0)) {
      throw new InvalidInputError(`${field} must be a positive integer, got ${value}.`, {
        code: 'CAPTURE_INVALID_OPTIONS',
        field,
      });
    }
  };
  positive(k, 'k');
  positive(options.batchTokens, 'batchTokens');
  positive(options.maxBatchExamples, 'maxBatchExamples');
  const capture = identity.capture;
  if (capture.k !== undefined && capture.k !== k) {
    throw new InvalidInputError(`identity.capture.k is ${String(capture.k)} but k is ${k}.`, {
      code: 'CAPTURE_INVALID_OPTIONS',
      field: 'identity.capture.k',
    });
  }
  if (capture.valueKind !== undefined && capture.valueKind !== provider.valueKind) {
    throw new InvalidInputError(
      `identity.capture.valueKind is ${String(capture.valueKind)} but provider "${provider.name}" returns ${provider.valueKind}.`,
      { code: 'CAPTURE_INVALID_OPTIONS', field: 'identity.capture.valueKind' },
    );
  }
}
