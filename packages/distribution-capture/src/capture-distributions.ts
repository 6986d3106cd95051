import { isFuseChatError, type Logger, silentLogger } from '@fusechat/core';
import {
  createStoreWriter,
  openStore,
  type StoreIdentity,
  type StoreManifest,
  type StoreWriter,
} from '@fusechat/distribution-store';
import {
  type CaptureExample,
  type CaptureLoopOptions,
  type CaptureProgressEvent,
  captureIntoWriter,
  checkCaptureOptions,
} from './capture-into-writer.js';
import type { LogitsProvider } from './logits-provider.js';

/** How the store is written; see `createStoreWriter` in `@fusechat/distribution-store`. */
export interface CaptureStoreOptions {
  readonly valueEncoding?: 'fp16' | 'quantized' | undefined;
  /** Keep each position's next-token log-probability (default true). */
  readonly nextTokenLogProbs?: boolean | undefined;
  readonly shardTargetBytes?: number | undefined;
  readonly blockExamples?: number | undefined;
}

/** Options of {@link captureDistributions}. */
export interface CaptureDistributionsOptions extends CaptureLoopOptions {
  readonly provider: LogitsProvider;
  /** Tokenised examples in data order; the position in this sequence is the store's resume cursor. */
  readonly examples: AsyncIterable<CaptureExample> | Iterable<CaptureExample>;
  /** Store directory (created, or resumed when it holds an incomplete store of the same identity). */
  readonly out: string;
  /** Entries kept per position. */
  readonly k: number;
  /** What the store is made from (see `createLocalCaptureIdentity`); `identity.capture.k` must equal `k`. */
  readonly identity: StoreIdentity;
  /**
   * Tokens per provider call (a window of consecutive examples, at most `maxBatchExamples`); the
   * provider sorts a window by length and batches it its own way (the local provider by its
   * `batchTokens`). Window boundaries depend on the data alone, so a resumed capture sees the same
   * batches and writes the same bytes. Default 16384.
   */
  readonly batchTokens?: number | undefined;
  /** Examples per provider call at most (default 256). */
  readonly maxBatchExamples?: number | undefined;
  /** Number of inputs, when known (for progress and ETA). */
  readonly totalExamples?: number | undefined;
  readonly store?: CaptureStoreOptions | undefined;
  readonly onProgress?: ((event: CaptureProgressEvent) => void) | undefined;
  readonly logger?: Logger | undefined;
  /** Stops between provider calls: uncommitted work is dropped, the store stays resumable. */
  readonly signal?: AbortSignal | undefined;
}

/** What {@link captureDistributions} did. Counts are of this run unless named otherwise. */
export interface CaptureSummary {
  readonly out: string;
  /** True when the store was already complete: nothing was run. */
  readonly alreadyComplete: boolean;
  /** Inputs skipped because an earlier run had committed them (the resume cursor). */
  readonly resumedFrom: number;
  /** Records stored this run. */
  readonly examples: number;
  /** Tokens of the records stored this run. */
  readonly tokens: number;
  /** Inputs flagged this run (non-finite logits), not stored as valid. */
  readonly flagged: number;
  /** Bytes of the finished store's shards. */
  readonly bytes: number;
  readonly seconds: number;
  readonly manifest: StoreManifest;
}

/**
 * Captures teacher distributions into a distribution store: runs `provider` over `examples` with
 * teacher forcing, keeps the top-`k` entries per position, the next-token log-probabilities and
 * the mean CE over supervised tokens (from the log-probabilities and the label mask), and appends
 * one record per example **in data order**.
 *
 * Resumable: when `out` holds an incomplete store with the same identity, the inputs it has
 * committed are skipped without running the provider, and the capture continues, so the finished
 * store is byte-identical to an uninterrupted run's. An example whose logits are not finite is
 * flagged in the store (`writer.flag`), counted and logged; capture goes on. On any error the
 * writer is aborted (uncommitted work dropped, store resumable) and the error rethrown.
 *
 * @throws InvalidInputError `CAPTURE_INVALID_OPTIONS` (k, batchTokens, identity.capture.k or
 *   valueKind disagreeing with the provider), `CAPTURE_INVALID_EXAMPLE` (empty ids, mask of
 *   another length, a repeated id is the store's to refuse); `CAPTURE_PROVIDER_OUTPUT` when a
 *   provider returns rows that do not fit the sequence; `CAPTURE_ABORTED` when `signal` fires;
 *   the store's `STORE_*` errors (identity mismatch, unwritable directory, full disk).
 *
 * @example
 * ```ts
 * const provider = createLocalProvider(model, tokenizer);
 * const identity = await createLocalCaptureIdentity({ modelDir, tokenizer, dataFile,
 *   chatTemplate: tokenizer.chatTemplate ?? null, capture: { k: 10, maxLength: 2048, truncation: 'keep-first' } });
 * const summary = await captureDistributions({ provider, examples, out: 'stores/pivot', k: 10, identity,
 *   onProgress: createProgressPrinter() });
 * console.log(`${summary.examples} examples, ${summary.flagged} flagged, ${summary.bytes} bytes`);
 * ```
 */
export async function captureDistributions(options: CaptureDistributionsOptions): Promise<CaptureSummary> {
  const started = performance.now();
  const { identity, out, k } = options;
  checkCaptureOptions(options);
  const storeOptions = options.store ?? {};
  let writer: StoreWriter;
  try {
    writer = await createStoreWriter(out, {
      identity,
      k,
      valueEncoding: storeOptions.valueEncoding,
      nextTokenLogProbs: storeOptions.nextTokenLogProbs ?? true,
      shardTargetBytes: storeOptions.shardTargetBytes,
      blockExamples: storeOptions.blockExamples,
    });
  } catch (error) {
    if (!isFuseChatError(error, 'STORE_ALREADY_COMPLETE')) throw error;
    const store = await openStore(out, { expect: identity, requireComplete: true });
    try {
      (options.logger ?? silentLogger).info(`${out} is already complete: nothing to capture`);
      return {
        out,
        alreadyComplete: true,
        resumedFrom: 0,
        examples: 0,
        tokens: 0,
        flagged: 0,
        bytes: shardBytes(store.manifest),
        seconds: (performance.now() - started) / 1000,
        manifest: store.manifest,
      };
    } finally {
      await store.close();
    }
  }
  try {
    const counts = await captureIntoWriter(writer, options);
    const manifest = await writer.finish();
    return {
      out,
      alreadyComplete: false,
      ...counts,
      bytes: shardBytes(manifest),
      seconds: (performance.now() - started) / 1000,
      manifest,
    };
  } catch (error) {
    await writer.abort().catch(() => {});
    throw error;
  }
}

function shardBytes(manifest: StoreManifest): number {
  return manifest.shards.reduce((sum: number, shard: { bytes: number }) => sum + shard.bytes, 0);
}
