import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { hashFile, hashText } from '@fusechat/chat-data';
import { FileFormatError, type TokenizerLike } from '@fusechat/core';
import type { StoreIdentity } from '@fusechat/distribution-store';

/** Capture options recorded in a store's identity (everything that changes its content). */
export interface CaptureIdentityOptions {
  readonly k: number;
  /** `--max-length` (null: no limit). */
  readonly maxLength?: number | null | undefined;
  /** Truncation policy (`keep-first`, `keep-last`, `refuse`; null when there is no limit). */
  readonly truncation?: string | null | undefined;
  /** `logits` (local models, the default) or `logprobs` (servers). */
  readonly valueKind?: 'logits' | 'logprobs' | undefined;
  /** More content-changing options (e.g. `skipInvalid`, `limit`). */
  readonly [option: string]: string | number | boolean | null | undefined;
}

/**
 * A {@link StoreIdentity} from its parts (any provider): model name and config hash (a hash of
 * `config.json`, or a remote provider's id), the tokenizer, the data hash, the chat template
 * text (hashed; null when none was used) and the capture options (`valueKind` defaults to
 * `logits`, `maxLength`/`truncation` to null; undefined options are dropped).
 *
 * @example
 * ```ts
 * const identity = createCaptureIdentity({ model: { name: 'qwen', configHash: provider.id }, tokenizer,
 *   dataHash: await hashFile('train.jsonl'), chatTemplate: tokenizer.chatTemplate ?? null,
 *   capture: { k: 10, maxLength: 2048, truncation: 'keep-first', valueKind: 'logprobs' } });
 * ```
 */
export function createCaptureIdentity(parts: {
  model: { name: string; configHash: string };
  tokenizer: TokenizerLike;
  /**
   * The model's output size when it exceeds the tokenizer's (Qwen2 pads 151,665 tokens to 151,936
   * logits): the store's id space must hold every id a top-k can return. Default: the tokenizer's.
   */
  modelVocabSize?: number | undefined;
  dataHash: string;
  chatTemplate: string | null;
  capture: CaptureIdentityOptions;
}): StoreIdentity {
  const capture: Record<string, string | number | boolean | null> = {
    maxLength: null,
    truncation: null,
    valueKind: 'logits',
  };
  for (const [key, value] of Object.entries(parts.capture)) if (value !== undefined) capture[key] = value;
  return {
    model: { name: parts.model.name, configHash: parts.model.configHash },
    tokenizer: {
      hash: parts.tokenizer.hash,
      vocabSize: Math.max(parts.tokenizer.vocabSize, parts.modelVocabSize ?? 0),
    },
    data: { hash: parts.dataHash },
    chatTemplateHash: parts.chatTemplate === null ? null : hashText(parts.chatTemplate),
    capture,
  };
}

/**
 * The {@link StoreIdentity} of a capture from a local model directory, built the same way by the
 * CLI and the pipeline: model name = the directory's name, `configHash` = SHA-256 of its
 * `config.json` bytes, the tokenizer's hash and size (the larger of the tokenizer's and
 * `config.json`'s `vocab_size`, so every id the model can rank fits the store), SHA-256 of the
 * data file, SHA-256 of the chat template text used (null for none) and the capture options.
 *
 * @throws FileFormatError `CAPTURE_MODEL_CONFIG_NOT_FOUND` when `modelDir/config.json` cannot be
 *   read; `CHAT_DATA_NOT_FOUND` (from `@fusechat/chat-data`) for an unreadable data file.
 *
 * @example
 * ```ts
 * const identity = await createLocalCaptureIdentity({ modelDir: 'models/qwen', tokenizer,
 *   dataFile: 'train.jsonl', chatTemplate: tokenizer.chatTemplate ?? null,
 *   capture: { k: 10, maxLength: 2048, truncation: 'keep-first' } });
 * ```
 */
export async function createLocalCaptureIdentity(options: {
  modelDir: string;
  tokenizer: TokenizerLike;
  dataFile: string;
  chatTemplate: string | null;
  capture: CaptureIdentityOptions;
}): Promise<StoreIdentity> {
  const configPath = join(options.modelDir, 'config.json');
  let configBytes: Buffer;
  try {
    configBytes = await readFile(configPath);
  } catch (cause) {
    throw new FileFormatError(
      'CAPTURE_MODEL_CONFIG_NOT_FOUND',
      `cannot read ${configPath}: is ${options.modelDir} a Hugging Face model directory?`,
      { path: configPath, cause },
    );
  }
  let modelVocabSize: number | undefined;
  try {
    const parsed = JSON.parse(configBytes.toString('utf8')) as { vocab_size?: unknown };
    if (Number.isSafeInteger(parsed.vocab_size)) modelVocabSize = parsed.vocab_size as number;
  } catch {
    // loadModel reports a malformed config.json; the hash above still names these bytes.
  }
  return createCaptureIdentity({
    model: {
      name: basename(resolve(options.modelDir)),
      configHash: createHash('sha256').update(configBytes).digest('hex'),
    },
    tokenizer: options.tokenizer,
    modelVocabSize,
    dataHash: await hashFile(options.dataFile),
    chatTemplate: options.chatTemplate,
    capture: { valueKind: 'logits', ...options.capture },
  });
}
